// Simulated steps as report records: what Simulate predicts drawn and traced as a measured step is.

package report

import (
	"time"

	"baton/runtime/schedule"
)

// Simulated is the step tl predicts, as records on one time base, one
// cost unit lasting unit: so a schedule's prediction can be drawn
// (WriteTimeline) and traced (WriteTrace) as a run's measured steps are.
func Simulated(tl *schedule.Timeline, unit time.Duration) *Step {
	at := func(x float64) time.Duration { return time.Duration(x * float64(unit)) }
	s := &Step{Records: make([][]Record, len(tl.Actions)), Time: at(tl.StepTime)}
	for d, acts := range tl.Actions {
		s.Records[d] = make([]Record, len(acts))
		for i, a := range acts {
			s.Records[d][i] = Record{Action: a.Action, Start: at(a.Start), End: at(a.End), Wait: at(a.Wait)}
		}
	}
	return s
}
