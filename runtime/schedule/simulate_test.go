// Tests of Simulate: exact timelines of small cases, deadlock reports, and bad inputs.

package schedule

import (
	"math"
	"strings"
	"testing"
)

func TestSimulateNaiveTimeline(t *testing.T) {
	s, err := Generate("naive", 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := Simulate(Lower(s), UniformCost(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	// Device 1 waits 1 for the activation, device 0 waits 3 for the gradient.
	want := [][]TimedAction{
		{{Action{0, F, 0}, 0, 1, 0}, {Action{0, SendF, 0}, 1, 1, 0}, {Action{0, RecvB, 0}, 1, 4, 3}, {Action{0, B, 0}, 4, 6, 0}, {Action{0, Step, -1}, 6, 6, 0}},
		{{Action{1, RecvF, 0}, 0, 1, 1}, {Action{1, F, 0}, 1, 2, 0}, {Action{1, B, 0}, 2, 4, 0}, {Action{1, SendB, 0}, 4, 4, 0}, {Action{1, Step, -1}, 4, 4, 0}},
	}
	for d := range want {
		if len(tl.Actions[d]) != len(want[d]) {
			t.Fatalf("device %d: %v, want %v", d, tl.Actions[d], want[d])
		}
		for i := range want[d] {
			if tl.Actions[d][i] != want[d][i] {
				t.Errorf("device %d action %d: %+v, want %+v", d, i, tl.Actions[d][i], want[d][i])
			}
		}
	}
	if tl.StepTime != 6 || tl.Busy[0] != 3 || tl.Busy[1] != 3 || tl.IdleFrac[0] != 0.5 || tl.IdleFrac[1] != 0.5 || tl.Bubble != 0.5 {
		t.Errorf("step %v busy %v idle %v bubble %v; want 6, [3 3], [0.5 0.5], 0.5", tl.StepTime, tl.Busy, tl.IdleFrac, tl.Bubble)
	}
}

// Costs that are not uniform per stage: the slowest stage sets the pace.
func TestSimulateSlowStage(t *testing.T) {
	s, err := Generate("1f1b", 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	cost := func(a Action) float64 {
		if !a.Kind.IsCompute() {
			return 0
		}
		if a.Stage == 1 {
			return 3
		}
		return 1
	}
	tl, err := Simulate(Lower(s), cost)
	if err != nil {
		t.Fatal(err)
	}
	// Stage 1 starts at 1 and then never waits: 1 + 8 actions × 3.
	if tl.StepTime != 26 || tl.Busy[1] != 24 || tl.Busy[0] != 8 {
		t.Errorf("step %v busy %v; want 26 and [8 24]", tl.StepTime, tl.Busy)
	}
}

func TestSimulateUniformCost(t *testing.T) {
	c := UniformCost(1, 3)
	for a, want := range map[Action]float64{
		{0, F, 0}: 1, {0, B, 0}: 3, {0, I, 0}: 1.5, {0, W, 0}: 1.5,
		{0, SendF, 0}: 0, {1, RecvF, 0}: 0, {1, SendB, 0}: 0, {0, RecvB, 0}: 0, {0, Step, -1}: 0,
	} {
		if got := c(a); got != want {
			t.Errorf("cost of %s = %v, want %v", a, got, want)
		}
	}
}

// Two devices that each receive before they send wait on each other forever.
func TestSimulateDeadlock(t *testing.T) {
	s := scheduleOf(t, 2, 1,
		"0F0 0RECV_B0 0SEND_F0 0B0 0STEP",
		"1RECV_F0 1F0 1B0 1SEND_B0 1STEP")
	if err := Validate(s); err != nil {
		t.Fatalf("the order rules hold, only the cross-device order is wrong: %v", err)
	}
	_, err := Simulate(s, UniformCost(1, 2))
	if err == nil {
		t.Fatal("Simulate found no deadlock")
	}
	for _, want := range []string{
		"simulate test: deadlock, no device can progress:",
		"device 0 waits at action 1 (0RECV_B0) for 1SEND_B0, action 3 of device 1, which is stuck at its action 0 (1RECV_F0)",
		"device 1 waits at action 0 (1RECV_F0) for 0SEND_F0, action 2 of device 0, which is stuck at its action 1 (0RECV_B0)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error:\n%v\nwant it to contain %q", err, want)
		}
	}
}

// A receive whose send exists nowhere, while another device has finished.
func TestSimulateDeadlockMissingSend(t *testing.T) {
	s := scheduleOf(t, 2, 1,
		"0F0 0SEND_F0 0RECV_B0 0B0 0STEP",
		"1RECV_F0 1F0 1B0 1STEP")
	_, err := Simulate(s, UniformCost(1, 2))
	for _, want := range []string{
		"device 0 waits at action 2 (0RECV_B0) for 1SEND_B0, which no device has (run Validate)",
		"device 1 finished its 4 actions",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error:\n%v\nwant it to contain %q", err, want)
		}
	}
}

func TestSimulateRejects(t *testing.T) {
	s, err := Generate("gpipe", 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	low := Lower(s)
	for _, c := range []struct {
		name string
		s    *Schedule
		cost func(Action) float64
		want string
	}{
		{"not lowered", s, UniformCost(1, 2), "no sends or receives"},
		{"nil cost", low, nil, "nil cost model"},
		{"negative cost", low, func(Action) float64 { return -1 }, "cost of 0F0 is -1; costs must be finite and at least 0"},
		{"NaN cost", low, func(Action) float64 { return math.NaN() }, "cost of 0F0 is NaN"},
		{"nil schedule", nil, UniformCost(1, 2), "nil schedule"},
	} {
		_, err := Simulate(c.s, c.cost)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to mention %q", c.name, err, c.want)
		}
	}
}

// With every cost zero nothing is idle, rather than 0/0.
func TestSimulateZeroCost(t *testing.T) {
	s, err := Generate("1f1b", 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := Simulate(Lower(s), func(Action) float64 { return 0 })
	if err != nil {
		t.Fatal(err)
	}
	if tl.StepTime != 0 || tl.Bubble != 0 {
		t.Errorf("step %v bubble %v, want 0 and 0", tl.StepTime, tl.Bubble)
	}
}

// zb-h2 is a parallelogram: device d works 3m without a gap from time d, so
// overlapping steps leave no bubble. 1f1b keeps device 0 busy to the end.
func TestSimulateSteady(t *testing.T) {
	for _, c := range []struct {
		name                 string
		step, period, bubble float64
		steadyBubble         float64
	}{
		{"zb-h2", 13, 12, 1.0 / 13, 0},
		{"1f1b", 15, 15, 3.0 / 15, 3.0 / 15},
	} {
		s, err := Generate(c.name, 2, 4)
		if err != nil {
			t.Fatal(err)
		}
		tl, err := Simulate(Lower(s), UniformCost(1, 2))
		if err != nil {
			t.Fatal(err)
		}
		if tl.StepTime != c.step || tl.SteadyPeriod != c.period || math.Abs(tl.Bubble-c.bubble) > 1e-12 || math.Abs(tl.SteadyBubble-c.steadyBubble) > 1e-12 {
			t.Errorf("%s: step %v period %v bubble %v steady %v; want %v %v %v %v", c.name,
				tl.StepTime, tl.SteadyPeriod, tl.Bubble, tl.SteadyBubble, c.step, c.period, c.bubble, c.steadyBubble)
		}
	}
}
