// Fuzz targets for what users type: actions and schedule files.

package schedule

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseAction: any string either fails to parse or parses to an action
// that prints back to a string that parses to the same action.
func FuzzParseAction(f *testing.F) {
	for _, s := range []string{"2F0", "1RECV_B3", "0STEP", "3send_f12", "F0", "0X1", "0STEP1", "12W", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAction(s)
		if err != nil {
			return
		}
		b, err := ParseAction(a.String())
		if err != nil || a != b {
			t.Fatalf("%q parsed to %v, which prints as %q and parses to %v (%v)", s, a, a.String(), b, err)
		}
	})
}

// FuzzReadCSV: any file either is refused or reads to a schedule that
// validates, simulates without deadlock and writes back to a file that
// reads the same.
func FuzzReadCSV(f *testing.F) {
	for _, s := range []string{
		"0F0,0F1,0B0,0F2,0B1,0B2,0STEP\n1F0,1B0,1F1,1B1,1F2,1B2,1STEP\n",
		"0F0,0SEND_F0,0RECV_B0,0B0,0STEP\n1RECV_F0,1F0,1B0,1SEND_B0,1STEP\n",
		"0F0,2F0,2B0,0B0,2STEP,0STEP\n1F0,3F0,3B0,1B0,1STEP,3STEP\n",
		"0F0,0B0,0F1,0B1,0STEP\n1F1,1B1,1F0,1B0,1STEP\n",
		"0F0,0I0,0W0,0STEP\n", ",0F0,,0B0,0STEP,\n\n", "0F0,\"0B0\n", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, file string) {
		s, err := ReadCSV(strings.NewReader(file), "f.csv")
		if err != nil {
			return
		}
		if err := Validate(s); err != nil {
			t.Fatalf("read a schedule that does not validate: %v", err)
		}
		if _, err := Simulate(Lower(s), UniformCost(1, 2)); err != nil {
			t.Fatalf("read a schedule that does not simulate: %v", err)
		}
		var buf bytes.Buffer
		if err := s.WriteCSV(&buf); err != nil {
			t.Fatal(err)
		}
		back, err := ReadCSV(&buf, "f.csv")
		if err != nil || !reflect.DeepEqual(back, s) {
			t.Fatalf("wrote %q, which reads back as %+v (%v), not %+v", buf.String(), back, err, s)
		}
	})
}
