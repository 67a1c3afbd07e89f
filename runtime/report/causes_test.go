// Tests of the idle split by cause on hand-made steps: the causes add up to the idle time, gaps included.

package report

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"baton/runtime/schedule"
)

func causesNear(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// causesReport builds the report of steps as if run by the lowered
// schedule name on p CPU devices with m micro-batches.
func causesReport(t *testing.T, name string, p, m int, steps ...*Step) *Report {
	t.Helper()
	s, err := schedule.Generate(name, p, m)
	if err != nil {
		t.Fatal(err)
	}
	devs := make([]DeviceInfo, p)
	for d := range devs {
		devs[d].Name = tlDeviceNames(p)[d]
	}
	r, err := Build(schedule.Lower(s), devs, steps)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checkCauses checks that each device's causes add up to its idle time, over
// the whole span and in each phase, and the phases to the whole.
func checkCauses(t *testing.T, r *Report) {
	t.Helper()
	for _, d := range r.PerDevice {
		causes := d.WaitPrevS + d.WaitNextS + d.TransferS + d.RecvCopyS + d.OptimizerInSpanS + d.GapS
		if !causesNear(causes, d.IdleS) {
			t.Errorf("%s: wait prev %g + wait next %g + transfer %g + recv copy %g + optimizer %g + gap %g = %g, want idle %g",
				d.Device, d.WaitPrevS, d.WaitNextS, d.TransferS, d.RecvCopyS, d.OptimizerInSpanS, d.GapS, causes, d.IdleS)
		}
		if !causesNear(d.ComputeS+d.IdleS, r.PipelineS) {
			t.Errorf("%s: compute %g + idle %g, want the span %g", d.Device, d.ComputeS, d.IdleS, r.PipelineS)
		}
		var sum Split
		for name, ph := range map[string]Split{"warm-up": d.Phases.Warmup, "steady": d.Phases.Steady, "cool-down": d.Phases.Cooldown} {
			if !causesNear(ph.CausesS(), ph.IdleS) || !causesNear(ph.ComputeS+ph.IdleS, ph.DurationS) {
				t.Errorf("%s %s: %+v does not add up", d.Device, name, ph)
			}
			sum.DurationS += ph.DurationS
			sum.IdleS += ph.IdleS
			sum.GapS += ph.GapS
			sum.WaitPrevS += ph.WaitPrevS
			sum.WaitNextS += ph.WaitNextS
		}
		if !causesNear(sum.DurationS, r.PipelineS) || !causesNear(sum.IdleS, d.IdleS) || !causesNear(sum.GapS, d.GapS) ||
			!causesNear(sum.WaitPrevS, d.WaitPrevS) || !causesNear(sum.WaitNextS, d.WaitNextS) {
			t.Errorf("%s: the phases %+v do not add up to the whole %+v", d.Device, sum, d)
		}
	}
}

// The two-stage naive step, by hand: span 4.5 ms (the end of 0B0).
func TestCausesNaive(t *testing.T) {
	r := causesReport(t, "naive", 2, 1, traceTwoStageStep())
	checkCauses(t, r)
	type want struct{ compute, idle, prev, next, transfer, recvCopy, optimizer, gap float64 } // ms
	for d, w := range []want{
		{2.2, 2.3, 0, 2.1, 0.1, 0.1, 0, 0},
		// 1STEP runs 3.2–3.6 while device 0 still computes; nothing covers 3.6–4.5.
		{1.9, 2.6, 1.1, 0, 0.1, 0.1, 0.4, 0.9},
	} {
		s := r.PerDevice[d]
		got := want{s.ComputeS, s.IdleS, s.WaitPrevS, s.WaitNextS, s.TransferS, s.RecvCopyS, s.OptimizerInSpanS, s.GapS}
		ok := true
		for i, g := range []float64{got.compute, got.idle, got.prev, got.next, got.transfer, got.recvCopy, got.optimizer, got.gap} {
			ok = ok && math.Abs(g*1e3-[]float64{w.compute, w.idle, w.prev, w.next, w.transfer, w.recvCopy, w.optimizer, w.gap}[i]) < 1e-6
		}
		if !ok {
			t.Errorf("device %d (ms/1e3): got %+v, want %+v", d, got, w)
		}
	}
	if r.PerDevice[1].OptimizerS*1e3-0.4 > 1e-9 {
		t.Errorf("optimizer_s %g, want the whole step, 0.4 ms", r.PerDevice[1].OptimizerS)
	}
}

// Gaps between actions, a device that starts late, and a step past the
// span are all counted, and the causes still add up.
func TestCausesGaps(t *testing.T) {
	step := tlExampleStep(3, 4)
	// Shift every action of device 1 after its first by 50 µs, and the
	// whole of device 2 by 30 µs: host overhead the example does not have.
	for d, shift := range map[int]time.Duration{1: 50 * time.Microsecond, 2: 30 * time.Microsecond} {
		for i := range step.Records[d] {
			if d == 2 || i > 0 {
				step.Records[d][i].Start += shift
				step.Records[d][i].End += shift
			}
		}
	}
	r := causesReport(t, "1f1b", 3, 4, step, tlExampleStep(3, 4))
	checkCauses(t, r)
	// Device 1's shift opens a 50 µs gap after its first action; the others
	// are where the example's devices have nothing to do.
	first := step.Records[1][0]
	found := false
	for _, sg := range deviceSegments(step.Records[1], step.PipelineSpan()) {
		if sg.cause == causeGap && sg.start == first.End {
			found = sg.end == first.End+50*time.Microsecond
		}
	}
	if !found {
		t.Errorf("no 50 µs gap after device 1's first action")
	}
	// Device 2 (the last) starts 30 µs late: a gap in its warm-up. (Its
	// cool-down has a gap too: after its STEP, while the others finish.)
	if g := r.PerDevice[2].Phases.Warmup.GapS; !causesNear(g, 30e-6/2) {
		t.Errorf("device 2 warm-up gap %g s per step, want 15 µs (30 µs in one of two steps)", g)
	}
}

// A device holding several stages (interleaved) is one timeline: its
// records of both stages count.
func TestCausesSeveralStagesPerDevice(t *testing.T) {
	step := interleavedStep()
	var whole Split
	span := step.PipelineSpan()
	whole.add(deviceSegments(step.Records[0], span), 0, span, 1)
	if !causesNear(whole.ComputeS, 3e-3) || !causesNear(whole.GapS, 0.1e-3) || !causesNear(whole.WaitPrevS, 1.2e-3) ||
		!causesNear(whole.WaitNextS, 2.2e-3) || !causesNear(whole.CausesS(), whole.IdleS) {
		t.Errorf("device 0: %+v", whole)
	}
}

func TestReportJSONAndPrint(t *testing.T) {
	r := causesReport(t, "naive", 2, 1, traceTwoStageStep())
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"bubble_measured"`, `"gap_s"`, `"recv_copy_s"`, `"phases":{"warmup":{"duration_s"`, `"steady"`, `"cooldown"`,
		`"critical_path":{"length_s"`, `"held_up_by":"stage 0 (cpu:0)`} {
		if !bytes.Contains(raw, []byte(field)) {
			t.Errorf("no %s in the report's JSON:\n%s", field, raw)
		}
	}
	var buf bytes.Buffer
	r.Print(&buf)
	for _, s := range []string{"idle by phase and by cause", "warm-up", "cool-down", "gaps", "critical path: 4.5 ms", "held up by stage 0"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("no %q in the printed report:\n%s", s, buf.String())
		}
	}
}

// The critical path's report: device 0 holds 0F0, its send, 0RECV_B0's
// copy and 0B0 (1 + 0.1 + 0.1 + 1.2 ms); device 1 the rest of 4.5 ms.
func TestReportCriticalPath(t *testing.T) {
	cp := causesReport(t, "naive", 2, 1, traceTwoStageStep()).CriticalPath
	if !causesNear(cp.LengthS, 4.5e-3) || !causesNear(cp.GapS, 0) {
		t.Errorf("length %g gap %g, want 4.5 ms and none", cp.LengthS, cp.GapS)
	}
	if !causesNear(cp.PerDevice[0].PathS, 2.4e-3) || !causesNear(cp.PerDevice[1].PathS, 2.1e-3) {
		t.Errorf("per device %+v, want 2.4 and 2.1 ms", cp.PerDevice)
	}
	if !causesNear(cp.StageComputeS[0], 2.2e-3) || !causesNear(cp.StageComputeS[1], 1.9e-3) {
		t.Errorf("stage compute %v, want 2.2 and 1.9 ms", cp.StageComputeS)
	}
	if want := "stage 0 (cpu:0): its forward and backward are 49% of the critical path"; cp.HeldUpBy != want {
		t.Errorf("held up by %q, want %q", cp.HeldUpBy, want)
	}
}
