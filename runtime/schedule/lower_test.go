// Tests of Lower: where the sends and receives go, and that lowering twice changes nothing.

package schedule

import (
	"slices"
	"testing"
)

func TestLowerPlacement(t *testing.T) {
	s := scheduleOf(t, 3, 1, "0F0 0B0 0STEP", "1F0 1B0 1STEP", "2F0 2B0 2STEP")
	want := []string{
		"0F0 0SEND_F0 0RECV_B0 0B0 0STEP",
		"1RECV_F0 1F0 1SEND_F0 1RECV_B0 1B0 1SEND_B0 1STEP",
		"2RECV_F0 2F0 2B0 2SEND_B0 2STEP",
	}
	low := Lower(s)
	for d := range want {
		if got := joinActions(low.Lists[d]); got != want[d] {
			t.Errorf("device %d:\n got %s\nwant %s", d, got, want[d])
		}
	}
	if got := joinActions(s.Lists[1]); got != "1F0 1B0 1STEP" {
		t.Errorf("Lower modified its input: %s", got)
	}
	if low.Name != s.Name || low.Devices != 3 || low.Stages != 3 || low.Microbatches != 1 || low.Chunks != 1 {
		t.Errorf("Lower changed the sizes: %+v", low)
	}
}

// I moves the input gradient like B; W moves nothing.
func TestLowerSplitBackward(t *testing.T) {
	s := scheduleOf(t, 2, 1, "0F0 0I0 0W0 0STEP", "1F0 1I0 1W0 1STEP")
	want := []string{
		"0F0 0SEND_F0 0RECV_B0 0I0 0W0 0STEP",
		"1RECV_F0 1F0 1I0 1SEND_B0 1W0 1STEP",
	}
	low := Lower(s)
	for d := range want {
		if got := joinActions(low.Lists[d]); got != want[d] {
			t.Errorf("device %d:\n got %s\nwant %s", d, got, want[d])
		}
	}
	if err := Validate(low); err != nil {
		t.Error(err)
	}
}

func TestLowerIdempotent(t *testing.T) {
	for _, name := range ScheduleNames {
		s, err := Generate(name, 4, 6)
		if err != nil {
			t.Fatal(err)
		}
		once := Lower(s)
		twice := Lower(once)
		for d := range once.Lists {
			if !slices.Equal(once.Lists[d], twice.Lists[d]) {
				t.Errorf("%s device %d:\n once  %s\n twice %s", name, d, joinActions(once.Lists[d]), joinActions(twice.Lists[d]))
			}
		}
	}
}

// One device has nothing to send to.
func TestLowerOneStage(t *testing.T) {
	s, err := Generate("1f1b", 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := joinActions(Lower(s).Lists[0]), joinActions(s.Lists[0]); got != want {
		t.Errorf("one stage lowered to %s, want %s", got, want)
	}
}

// With several stages per device every stage boundary gets its sends and
// receives, whether the neighbour is on another device (stage 1 → 2 goes
// from device 1 to device 0) or, with one device, on the same one.
func TestLowerSeveralStagesPerDevice(t *testing.T) {
	for _, pv := range [][2]int{{2, 2}, {1, 3}, {3, 2}} {
		p, v, m := pv[0], pv[1], 3*pv[0]
		s, err := GenerateChunks("interleaved", p, m, v)
		if err != nil {
			t.Fatal(err)
		}
		low := Lower(s)
		if err := Validate(low); err != nil {
			t.Fatal(err)
		}
		n := map[[2]int]int{} // (stage, kind) → count
		for d, l := range low.Lists {
			for _, a := range l {
				if s.DeviceOf(a.Stage) != d {
					t.Errorf("p=%d v=%d: %s on device %d", p, v, a, d)
				}
				n[[2]int{a.Stage, int(a.Kind)}]++
			}
		}
		for st := range s.Stages {
			for k, want := range map[Kind]bool{SendF: st < s.Stages-1, RecvB: st < s.Stages-1, RecvF: st > 0, SendB: st > 0} {
				if got := n[[2]int{st, int(k)}]; got != m && want || got != 0 && !want {
					t.Errorf("p=%d v=%d: stage %d has %d %s", p, v, st, got, k)
				}
			}
		}
	}
}
