// trace.json names each kept step by the run's step number, as metrics.jsonl does.

package report

import (
	"testing"
	"time"
)

// A run keeps its last steps for the trace; a long or resumed run's are
// not its first, and the trace must name them as metrics.jsonl does.
func TestTraceNamesTheRunsStepNumbers(t *testing.T) {
	var steps []*Step
	for n := 291; n <= 300; n++ {
		s := traceTwoStageStep()
		s.Number = n
		steps = append(steps, s)
	}
	span := steps[0].Time
	seen := map[float64]int{}
	for _, e := range traceRead(t, []string{"cuda:0", "cuda:1"}, steps) {
		if e.Ph != "X" {
			continue
		}
		// Step k of the window is laid from k spans in.
		k := int(time.Duration(e.Ts*float64(time.Microsecond)) / span)
		if got, want := e.Args["step"], float64(291+k); got != want {
			t.Errorf("%s on track %d at %v µs: step %v, want %v", e.Name, e.Tid, e.Ts, got, want)
		}
		seen[e.Args["step"].(float64)]++
	}
	for n := 291.0; n <= 300; n++ {
		if seen[n] != 10+2+8+1 { // records, waits, critical-path slices, the step's own
			t.Errorf("step %v has %d slices, want 21", n, seen[n])
		}
	}
}
