// Tests of schedule files: every generator's schedule reads back equal, and bad files are refused at their row and column.

package schedule

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestCSVRoundTrip(t *testing.T) {
	for _, name := range ScheduleNames {
		tr, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range [][3]int{{1, 1, 1}, {2, 4, 1}, {3, 5, 1}, {4, 8, 1}, {2, 4, 2}, {4, 8, 3}} {
			p, m, v := size[0], size[1], size[2]
			if v > 1 && !tr.Chunked {
				continue
			}
			s, err := GenerateChunks(name, p, m, v)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []*Schedule{s, Lower(s)} {
				var buf bytes.Buffer
				if err := want.WriteCSV(&buf); err != nil {
					t.Fatal(err)
				}
				got, err := ReadCSV(&buf, "x.csv")
				if err != nil {
					t.Fatalf("%s p=%d m=%d v=%d: %v\n%s", name, p, m, v, err, buf.String())
				}
				if got.Name != "file:x.csv" {
					t.Errorf("read back as %q, want file:x.csv", got.Name)
				}
				got.Name = want.Name
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s p=%d m=%d v=%d: read back %+v, want %+v", name, p, m, v, got, want)
				}
			}
		}
	}
}

// A file as torch.distributed.pipelining may write it: idle slots as empty
// cells, spaces, CRLF line ends, rows of different lengths.
func TestCSVReadTorchStyle(t *testing.T) {
	file := "0F0, 0F1,,0B0,0B1,0STEP\r\n,1F0,1F1,1B0,1B1,1STEP,,\r\n"
	got, err := ReadCSV(strings.NewReader(file), "torch.csv")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Generate("gpipe", 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Lists, want.Lists) || got.Devices != 2 || got.Stages != 2 || got.Microbatches != 2 || got.Chunks != 1 {
		t.Errorf("read %+v, want gpipe's lists %v", got, want.Lists)
	}
}

// A lowered file runs with its own placement of sends and receives: here a
// receive earlier than Lower would put it.
func TestCSVLoweredKeptAsIs(t *testing.T) {
	file := "0F0,0SEND_F0,0F1,0SEND_F1,0RECV_B0,0RECV_B1,0B0,0B1,0STEP\n" +
		"1RECV_F0,1RECV_F1,1F0,1F1,1B0,1SEND_B0,1B1,1SEND_B1,1STEP\n"
	s, err := ReadCSV(strings.NewReader(file), "early.csv")
	if err != nil {
		t.Fatal(err)
	}
	if got := joinActions(Lower(s).Lists[0]); got != "0F0 0SEND_F0 0F1 0SEND_F1 0RECV_B0 0RECV_B1 0B0 0B1 0STEP" {
		t.Errorf("lowered again to %s", got)
	}
}

func TestCSVBadFiles(t *testing.T) {
	for _, c := range []struct{ name, file, want string }{
		{"unknown action", "0F0,0X0,0STEP\n",
			`schedule file bad.csv: row 1, column 2: action "0X0": unknown kind "X"`},
		{"wrong device for a stage", "0F0,1F0,0B0,0STEP\n1B0,1STEP\n",
			"schedule file bad.csv: row 1, column 2 (1F0): stage 1 lives on device 1 (stage mod devices), not device 0"},
		{"missing STEP", "0F0,0B0,0STEP\n1F0,1B0\n",
			"schedule file bad.csv: row 2: stage 1 has no STEP; end its actions with 1STEP"},
		{"deadlock", "0F0,0B0,0F1,0B1,0STEP\n1F1,1B1,1F0,1B0,1STEP\n",
			"schedule file bad.csv: deadlock, no device can progress: row 1, column 2 (0B0) waits for 1SEND_B0 from row 2, column 4 (1B0), which is stuck at column 1 (1F1); " +
				"row 2, column 1 (1F1) waits for 0SEND_F1 from row 1, column 3 (0F1), which is stuck at column 2 (0B0)"},
		{"deadlock, lowered", "0F0,0RECV_B0,0SEND_F0,0B0,0STEP\n1RECV_F0,1F0,1B0,1SEND_B0,1STEP\n",
			"row 1, column 2 (0RECV_B0) waits for 1SEND_B0 from row 2, column 4 (1SEND_B0), which is stuck at column 1 (1RECV_F0)"},
		{"receive without its send", "0F0,0SEND_F0,0RECV_B0,0B0,0STEP\n1RECV_F0,1F0,1B0,1STEP\n",
			"schedule file bad.csv: row 1, column 3 (0RECV_B0): no matching 1SEND_B0 on device 1; the receive would wait forever"},
		{"blank row", "0F0,0B0,0STEP\n\n1F0,1B0,1STEP\n",
			"schedule file bad.csv: row 2 is blank; every device needs a row"},
		{"stages not dealt over the rows", "0F0,0B0,0STEP\n1F0,1B0,1STEP\n2F0,2B0,2STEP,3F0,3B0,3STEP\n",
			"schedule file bad.csv: stages 0..3 over 3 rows"},
		{"missing micro-batch", "0F0,0F2,0B0,0B2,0STEP\n",
			"schedule file bad.csv: micro-batch 1 is in no action, but 2 is: number the micro-batches 0, 1, 2, … with none left out"},
		{"skipped micro-batches", "0F99,0B99,0STEP\n",
			"schedule file bad.csv: micro-batch 0 is in no action, but 99 is"},
		{"huge micro-batch", "0F9223372036854775807,0B9223372036854775807,0STEP\n",
			`action "0F9223372036854775807": micro-batch 9223372036854775807; a schedule has at most 1073741824 micro-batches`},
		{"negative micro-batch", "0F-1,0B0,0STEP\n", `action "0F-1": micro-batch -1; micro-batches are numbered from 0`},
		{"no compute", "0STEP\n", "schedule file bad.csv: no forward or backward in any row"},
		{"empty", "", "schedule file bad.csv: no rows"},
		{"bad quoting", "0F0,\"0B0\n", `schedule file bad.csv: parse error on line 1, column 10: extraneous or missing " in quoted-field`},
	} {
		_, err := ReadCSV(strings.NewReader(c.file), "bad.csv")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error\n%v\nwant it to contain\n%s", c.name, err, c.want)
		}
	}
}

func ExampleSchedule_WriteCSV() {
	s, err := Generate("1f1b", 2, 3)
	if err != nil {
		panic(err)
	}
	if err := s.WriteCSV(os.Stdout); err != nil {
		panic(err)
	}
	// Output:
	// 0F0,0F1,0B0,0F2,0B1,0B2,0STEP
	// 1F0,1B0,1F1,1B1,1F2,1B2,1STEP
}
