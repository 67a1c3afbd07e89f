// Tests of Action: printing, parsing back, and the errors of bad inputs.

package schedule

import (
	"strings"
	"testing"
)

func TestActionRoundTrip(t *testing.T) {
	for k := Kind(0); k < NumKinds; k++ {
		for _, st := range []int{0, 3, 12} {
			for _, mb := range []int{0, 7, 31} {
				a := Action{Stage: st, Kind: k, Microbatch: mb}
				if k == Step {
					a.Microbatch = -1
				}
				got, err := ParseAction(a.String())
				if err != nil {
					t.Fatalf("ParseAction(%q): %v", a, err)
				}
				if got != a {
					t.Errorf("ParseAction(%q) = %+v, want %+v", a, got, a)
				}
			}
		}
	}
}

func TestActionString(t *testing.T) {
	for _, c := range []struct {
		a    Action
		want string
	}{
		{Action{2, F, 0}, "2F0"},
		{Action{0, B, 5}, "0B5"},
		{Action{1, I, 2}, "1I2"},
		{Action{1, W, 2}, "1W2"},
		{Action{0, SendF, 1}, "0SEND_F1"},
		{Action{3, RecvF, 0}, "3RECV_F0"},
		{Action{2, SendB, 4}, "2SEND_B4"},
		{Action{1, RecvB, 3}, "1RECV_B3"},
		{Action{0, Step, -1}, "0STEP"},
		{Action{10, F, 12}, "10F12"},
	} {
		if got := c.a.String(); got != c.want {
			t.Errorf("%+v prints %q, want %q", c.a, got, c.want)
		}
	}
	if got := Kind(200).String(); got != "Kind(200)" {
		t.Errorf("Kind(200) prints %q", got)
	}
}

func TestActionKindIsCompute(t *testing.T) {
	for k := Kind(0); k < NumKinds; k++ {
		want := k == F || k == B || k == I || k == W
		if k.IsCompute() != want {
			t.Errorf("%s.IsCompute() = %v, want %v", k, k.IsCompute(), want)
		}
	}
}

// Kind names are matched without regard to case.
func TestActionParseAnyCase(t *testing.T) {
	for s, want := range map[string]Action{
		"2f0":      {2, F, 0},
		"1recv_b3": {1, RecvB, 3},
		"0Step":    {0, Step, -1},
	} {
		got, err := ParseAction(s)
		if err != nil || got != want {
			t.Errorf("ParseAction(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
}

func TestActionParseBad(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "want a stage number first"},
		{"F0", "want a stage number first"},
		{"-1F0", "want a stage number first"},
		{" 2F0", "want a stage number first"},
		{"2", "unknown kind"},
		{"2X0", `unknown kind "X"`},
		{"2SEND0", `unknown kind "SEND"`},
		{"2F", "F needs a micro-batch number"},
		{"1RECV_B", "RECV_B needs a micro-batch number"},
		{"2F-1", "micro-batch -1; micro-batches are numbered from 0"},
		{"2F0 ", "unknown kind"},
		{"0STEP1", "STEP takes no micro-batch"},
		{"99999999999999999999F0", "stage"},
		{"2F99999999999999999999", "micro-batch"},
	} {
		a, err := ParseAction(c.in)
		if err == nil {
			t.Errorf("ParseAction(%q) = %v, want an error", c.in, a)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseAction(%q) error %q, want it to mention %q", c.in, err, c.want)
		}
	}
}
