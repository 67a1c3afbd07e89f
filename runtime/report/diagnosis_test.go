// The diagnosis of a simulated unbalanced run: the split it suggests, and its suggestions on other devices and under a memory limit.

package report

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"baton/model"
	"baton/runtime/schedule"
)

// evenRun is a simulated run of the even split on slowReplay's devices
// (its stage costs only, as a run without --profile-layers records them):
// its report, its replay and its choice.
func evenRun(t *testing.T) (*Report, *Replay, Choice) {
	t.Helper()
	truth := slowReplay(t, 4)
	even := Choice{Schedule: "1f1b", Devices: 4, Microbatches: 4, Chunks: 1, Split: []int{2, 2, 2, 2}}
	sched, err := schedule.GenerateChunks("1f1b", 4, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	plan, _ := model.Partition(replayModel, []string{"d0", "d1", "d2", "d3"}, model.PlanOptions{Split: even.Split})
	stage := make([]unitCost, 4)
	for s, st := range plan.Stages {
		stage[s] = truth.stageCost(s, 4, 4, st.Blocks(), model.RecomputeNone)
	}
	tl, err := schedule.Simulate(schedule.Lower(sched), func(a schedule.Action) float64 {
		switch a.Kind {
		case schedule.F:
			return stage[a.Stage].F
		case schedule.B:
			return stage[a.Stage].B
		}
		return 0
	})
	if err != nil {
		t.Fatal(err)
	}
	step := Simulated(tl, time.Second)
	devs := []DeviceInfo{{Name: "cpu:0"}, {Name: "cpu:1~4"}, {Name: "cpu:2"}, {Name: "cpu:3"}}
	rep, err := Build(schedule.Lower(sched), devs, []*Step{step})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReplay(replayModel, 8, 8, 4, plan, MeasuredCosts([]*Step{step}, 4), nil)
	if err != nil {
		t.Fatal(err)
	}
	return rep, r, even
}

// TestDiagnoseSuggestsTheBalancedSplit: the even split's run is diagnosed
// as unbalanced, with the measured split and its gain.
func TestDiagnoseSuggestsTheBalancedSplit(t *testing.T) {
	rep, r, even := evenRun(t)
	dg, err := Diagnose(rep, r, even, Space{Devices: 4})
	if err != nil {
		t.Fatal(err)
	}
	if dg.Rebalanced == nil || !slices.Equal(dg.Rebalanced.Split, []int{3, 1, 2, 2}) {
		t.Fatalf("diagnosis suggests %+v, want the split 3,1,2,2", dg.Rebalanced)
	}
	if math.Abs(dg.Replayed.StepS-rep.PipelineS) > 1e-6*rep.PipelineS {
		t.Errorf("the run's own replay predicts %.4fs; it measured %.4fs", dg.Replayed.StepS, rep.PipelineS)
	}
	text := dg.Run
	if len(text) < 3 || !strings.Contains(text[1], "cpu:1~4 computes") || !strings.HasPrefix(text[2], "Splitting 3,1,2,2 instead of 2,2,2,2") {
		t.Errorf("diagnosis says %q", text)
	}
	if len(dg.Devices) != 4 || !strings.Contains(dg.Devices[0], "cpu:0 idled") || !strings.Contains(dg.Devices[0], "waiting on cpu:1~4") {
		t.Errorf("device sentences %q", dg.Devices)
	}
}

// TestDiagnoseOnOtherDevicesSaysSo: asked about 2 devices, the diagnosis
// of a 4-device run does not re-split the run's 4 stages, and says its
// suggestions are for 2 devices.
func TestDiagnoseOnOtherDevicesSaysSo(t *testing.T) {
	rep, r, even := evenRun(t)
	dg, err := Diagnose(rep, r, even, Space{Devices: 2})
	if err != nil {
		t.Fatal(err)
	}
	if dg.Rebalanced != nil {
		t.Errorf("on 2 devices the diagnosis suggests the run's 4 stages split %v", dg.Rebalanced.Split)
	}
	if dg.Best != nil && dg.Best.Devices != 2 {
		t.Errorf("on 2 devices the best choice is on %d", dg.Best.Devices)
	}
	last := dg.Run[len(dg.Run)-1]
	if !strings.HasPrefix(last, "On 2 devices instead of the run's 4, ") || strings.Contains(strings.Join(dg.Run, " "), "plitting") {
		t.Errorf("diagnosis says %q", dg.Run)
	}
}

// TestDiagnoseKeepsToTheMemoryLimit: with devices that hold the even
// split but not the balanced one, nothing suggested needs more, and the
// diagnosis names the limit.
func TestDiagnoseKeepsToTheMemoryLimit(t *testing.T) {
	rep, r, even := evenRun(t)
	now, err := r.Predict(even)
	if err != nil {
		t.Fatal(err)
	}
	capacity := slices.Max(now.PeakBytes)
	bal := even
	bal.Split = []int{3, 1, 2, 2}
	if p, err := r.Predict(bal); err != nil || slices.Max(p.PeakBytes) <= capacity {
		t.Fatalf("split 3,1,2,2 needs %v (%v), not more than the even split's %d: no limit to test", p, err, capacity)
	}
	dg, err := Diagnose(rep, r, even, Space{Devices: 4, Capacity: capacity})
	if err != nil {
		t.Fatal(err)
	}
	if p := dg.Rebalanced; p != nil && slices.Max(p.PeakBytes) > capacity {
		t.Errorf("the diagnosis suggests %s, needing %d bytes of %d", p.Choice, slices.Max(p.PeakBytes), capacity)
	}
	if dg.Best != nil && slices.Max(dg.Best.PeakBytes) > capacity {
		t.Errorf("the best choice %s needs %d bytes of %d", dg.Best.Choice, slices.Max(dg.Best.PeakBytes), capacity)
	}
	if want := "Within " + model.HumanBytes(capacity) + " per device, "; !strings.HasPrefix(dg.Run[len(dg.Run)-1], want) {
		t.Errorf("diagnosis says %q; want its suggestions to begin %q", dg.Run, want)
	}
}

// TestDiagnosisSaysWhatTheRunDid: a run priced on its stages' times says
// so, not that it priced layer times; a run that balanced on measured
// times is not told to balance on them; an eager optimizer's wait is not
// put down to the global norm it does not wait for.
func TestDiagnosisSaysWhatTheRunDid(t *testing.T) {
	rep, r, even := evenRun(t)
	r.Balanced = true
	dg, err := Diagnose(rep, r, even, Space{Devices: 4})
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(dg.Run, " ")
	for _, want := range []string{"pricing the measured stage times, shared among their layers by FLOPs,", "The stages are unbalanced", "(on the measured times of the steps reported here)"} {
		if !strings.Contains(text, want) {
			t.Errorf("the diagnosis lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "or balancing on measured times") {
		t.Errorf("a run that balanced is told to balance:\n%s", text)
	}
	st := DeviceStats{Device: "cpu:0", IdleFrac: 0.3, OptimizerInSpanS: 0.3}
	if s := deviceSentence(st, []string{"cpu:0", "cpu:1"}, 0, 1, true); !strings.Contains(s, "the eager one") || strings.Contains(s, "global gradient norm, which") {
		t.Errorf("an eager run's optimizer wait is said as %q", s)
	}
	if s := deviceSentence(st, []string{"cpu:0", "cpu:1"}, 0, 1, false); !strings.Contains(s, "the global gradient norm, which an eager optimizer step would not wait for") {
		t.Errorf("the default optimizer's wait is said as %q", s)
	}
}
