// Tests of the pipeline phases on hand-made steps: where warm-up, steady and cool-down begin and end.

package report

import (
	"testing"
	"time"

	"baton/runtime/schedule"
)

// phaseRecord finds action a's record on device d.
func phaseRecord(t *testing.T, step *Step, d int, a string) Record {
	t.Helper()
	want, err := schedule.ParseAction(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range step.Records[d] {
		if r.Action == want {
			return r
		}
	}
	t.Fatalf("no %s on device %d", a, d)
	return Record{}
}

// On a 1F1B step of 3 devices and 4 micro-batches, device d warms up until
// its first backward (B0), is steady until its last forward (F3) ends, and
// cools down with the backwards left.
func TestPhaseBounds1F1B(t *testing.T) {
	step := tlExampleStep(3, 4)
	span := step.PipelineSpan()
	for d, firstB := range []string{"0B0", "1B0", "2B0"} {
		steady, cool := phaseBounds(step.Records[d], span)
		wantSteady := phaseRecord(t, step, d, firstB).Start
		wantCool := phaseRecord(t, step, d, string(rune('0'+d))+"F3").End
		if steady != wantSteady || cool != wantCool {
			t.Errorf("device %d: steady from %v to %v, want %v to %v", d, steady, cool, wantSteady, wantCool)
		}
		if !(0 < steady && steady < cool && cool < span) {
			t.Errorf("device %d: bounds 0 < %v < %v < %v out of order", d, steady, cool, span)
		}
	}
	// Device 0 warms up through three forwards (F0 F1 F2) and the wait for
	// the first gradient; its steady phase is B0 and F3; it cools down with
	// B1, B2 and B3. Forwards take 1 ms, backwards 2 ms.
	r := causesReport(t, "1f1b", 3, 4, step)
	checkCauses(t, r)
	ph := r.PerDevice[0].Phases
	for name, c := range map[string][2]float64{
		"warm-up":   {ph.Warmup.ComputeS, 3e-3},
		"steady":    {ph.Steady.ComputeS, 2e-3 + 1e-3},
		"cool-down": {ph.Cooldown.ComputeS, 3 * 2e-3},
	} {
		if !causesNear(c[0], c[1]) {
			t.Errorf("device 0 %s compute %g, want %g", name, c[0], c[1])
		}
	}
	if ph.Warmup.WaitPrevS != 0 || ph.Warmup.WaitNextS <= 0 {
		t.Errorf("device 0 warm-up %+v: want it to wait for the first gradient only", ph.Warmup)
	}
	// The last device's warm-up is only the wait for its first activation and F0.
	last := r.PerDevice[2].Phases.Warmup
	if !causesNear(last.ComputeS, 1e-3) || last.WaitPrevS <= 0 {
		t.Errorf("last device warm-up %+v, want F0 after a wait", last)
	}
}

// Forwards all before the backwards (naive, GPipe): no steady phase.
func TestPhaseBoundsNoSteady(t *testing.T) {
	step := traceTwoStageStep()
	span := step.PipelineSpan()
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	for d, want := range []time.Duration{ms(3.3), ms(2.2)} {
		steady, cool := phaseBounds(step.Records[d], span)
		if steady != want || cool != want {
			t.Errorf("device %d: steady %v to %v, want empty at %v", d, steady, cool, want)
		}
	}
	r := causesReport(t, "naive", 2, 1, step)
	checkCauses(t, r)
	if ph := r.PerDevice[1].Phases; ph.Steady.DurationS != 0 || !causesNear(ph.Cooldown.OptimizerS, 0.4e-3) || !causesNear(ph.Cooldown.GapS, 0.9e-3) {
		t.Errorf("device 1 phases %+v", ph)
	}
}

// Evaluation: no backward, so the whole span is warm-up.
func TestPhaseBoundsForwardOnly(t *testing.T) {
	ms := time.Millisecond
	recs := []Record{{Action: schedule.Action{Stage: 0, Kind: schedule.F, Microbatch: 0}, Start: 0, End: ms}, {Action: schedule.Action{Stage: 0, Kind: schedule.F, Microbatch: 1}, Start: ms, End: 2 * ms}}
	if steady, cool := phaseBounds(recs, 3*ms); steady != 3*ms || cool != 3*ms {
		t.Errorf("forward only: bounds %v %v, want both at the span's end", steady, cool)
	}
}
