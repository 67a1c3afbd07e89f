// A simulated step reads as a measured one: the same causes, the same critical path.

package report

import (
	"testing"
	"time"

	"baton/runtime/schedule"
)

// TestSimulatedStepReportsItsOwnBubble: the idle report of a simulated
// 1f1b step on uniform costs is the simulation's bubble, each receive's
// wait ends where its send did, and the critical path spans the step.
func TestSimulatedStepReportsItsOwnBubble(t *testing.T) {
	s, err := schedule.Generate("1f1b", 4, 8)
	if err != nil {
		t.Fatal(err)
	}
	lowered := schedule.Lower(s)
	tl, err := schedule.Simulate(lowered, schedule.UniformCost(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	step := Simulated(tl, time.Millisecond)
	devs := make([]DeviceInfo, 4)
	for d := range devs {
		devs[d].Name = tlDeviceNames(4)[d]
	}
	r, err := Build(lowered, devs, []*Step{step})
	if err != nil {
		t.Fatal(err)
	}
	if !causesNear(r.BubbleMeasured, tl.Bubble) || !causesNear(r.BubbleMeasured, s.AnalyticBubble()) {
		t.Errorf("the report of the simulated step says %g; the simulation %g, the formula %g", r.BubbleMeasured, tl.Bubble, s.AnalyticBubble())
	}
	if got := time.Duration(r.CriticalPath.LengthS * float64(time.Second)); got != step.Time {
		t.Errorf("critical path %v, want the step's %v", got, step.Time)
	}
	sends := map[schedule.Action]time.Duration{}
	for _, recs := range step.Records {
		for _, rec := range recs {
			if rec.Action.Kind == schedule.SendF || rec.Action.Kind == schedule.SendB {
				sends[rec.Action] = rec.End
			}
		}
	}
	for _, recs := range step.Records {
		for _, rec := range recs {
			if k := rec.Action.Kind; k == schedule.RecvF || k == schedule.RecvB {
				if from := pathSender(rec.Action); rec.Wait > 0 && rec.Start+rec.Wait != sends[from] {
					t.Errorf("%s waits until %v; %s ended at %v", rec.Action, rec.Start+rec.Wait, from, sends[from])
				}
			}
		}
	}
}
