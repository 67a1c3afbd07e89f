// Stragglers: a device that slows while the others do not is named once; all slowing together (a busy host) is not a straggler.

package runtime

import (
	"strings"
	"testing"
	"time"

	"baton/runtime/report"
	"baton/runtime/schedule"
)

// computeStep is a step in which device d computed ms[d] milliseconds.
func computeStep(ms ...float64) *StepResult {
	res := &StepResult{Step: report.Step{Records: make([][]report.Record, len(ms))}}
	for d, m := range ms {
		res.Records[d] = []report.Record{{Action: schedule.Action{Stage: d, Kind: schedule.F}, End: time.Duration(m * float64(time.Millisecond))}}
	}
	return res
}

func TestStragglerIsNamedOnce(t *testing.T) {
	s := newStragglers([]string{"cpu:0", "cpu:1", "cpu:2"})
	var said []string
	for step := 1; step <= 40; step++ {
		slow := 10.0
		if step > 20 {
			slow = 16 // cpu:1 slows by 60% from step 21 on
		}
		if msg := s.observe(step, computeStep(10, slow, 10.5)); msg != "" {
			said = append(said, msg)
		}
	}
	if len(said) != 1 || !strings.HasPrefix(said[0], "cpu:1 is straggling") || len(s.found) != 1 || s.found[0].Step < 21 || s.found[0].Step > 20+stragglerRecent {
		t.Fatalf("warnings %q (found %+v); want one about cpu:1 within %d steps of its slowing", said, s.found, stragglerRecent)
	}
}

func TestAllSlowingTogetherIsNoStraggler(t *testing.T) {
	s := newStragglers([]string{"cpu:0", "cpu:1"})
	for step := 1; step <= 40; step++ {
		ms := 10.0
		if step > 20 {
			ms = 20
		}
		if msg := s.observe(step, computeStep(ms, ms*1.05)); msg != "" {
			t.Fatalf("step %d: %s", step, msg)
		}
	}
}

// TestOneLongStepIsNoStraggler: a process stopped for a moment (Ctrl-Z,
// a debugger) makes one step of one device long; a straggler stays slow.
func TestOneLongStepIsNoStraggler(t *testing.T) {
	s := newStragglers([]string{"cpu:0", "cpu:1"})
	for step := 1; step <= 40; step++ {
		ms := 50.0
		if step == 23 {
			ms = 700 // stopped during cpu:0's forward
		}
		if msg := s.observe(step, computeStep(ms, 50)); msg != "" {
			t.Fatalf("step %d: %s", step, msg)
		}
	}
}
