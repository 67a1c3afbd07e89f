// The timeline's title: the bubble of the step it draws, beside the mean of the steps measured.

package runtime

import (
	"fmt"
	"testing"
	"time"

	"baton/runtime/report"
	"baton/runtime/schedule"
)

// TestTimelineTitleIsItsStep: a run whose steps differ (the last one's
// stage 1 three times slower) titles its timeline with the last step's
// own bubble, which the picture shows, and gives the mean beside it.
func TestTimelineTitleIsItsStep(t *testing.T) {
	s, err := schedule.Generate("1f1b", 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	s = schedule.Lower(s)
	even, err := schedule.Simulate(s, schedule.UniformCost(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	slow, err := schedule.Simulate(s, func(a schedule.Action) float64 {
		c := schedule.UniformCost(1, 2)(a)
		if a.Stage == 1 {
			c *= 3
		}
		return c
	})
	if err != nil {
		t.Fatal(err)
	}
	first, last := report.Simulated(even, time.Millisecond), report.Simulated(slow, time.Millisecond)
	first.Number, last.Number = 9, 10
	devs := []report.DeviceInfo{{Name: "cpu:0"}, {Name: "cpu:1"}}
	steps := []*report.Step{first, last}
	rep, err := report.Build(s, devs, steps)
	if err != nil {
		t.Fatal(err)
	}
	own, err := report.Build(s, devs, steps[1:])
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%.0f", own.BubbleMeasured*100) == fmt.Sprintf("%.0f", rep.BubbleMeasured*100) {
		t.Fatalf("the last step's bubble %.3f rounds as the mean %.3f does: no difference to test", own.BubbleMeasured, rep.BubbleMeasured)
	}
	title, err := timelineTitle(s, devs, steps, rep)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("1f1b, 2 devices, 4 micro-batches: step 10, bubble %.0f%% (analytic %.0f%%, mean of 2 steps %.0f%%)",
		own.BubbleMeasured*100, rep.BubbleAnalytic*100, rep.BubbleMeasured*100)
	if title != want {
		t.Errorf("title %q\nwant  %q", title, want)
	}
}
