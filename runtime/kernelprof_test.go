// --profile-kernels: the timed calls are exactly the plan's kernel list, and what timing them costs a CPU step.

package runtime

import (
	"fmt"
	"testing"

	"baton/model"
	"baton/runtime/device"
)

// profiledPipeline is pipelineOn's pipeline on p CPU devices under
// recompute mode r, its stages computing on prof's Ops (prof nil: untimed),
// their heads masking the ids from vocab on (0: none).
func profiledPipeline(tb testing.TB, cfg model.Config, name string, p, m, batch int, r model.Recompute, vocab int, prof *kernelProfile) (*pipeline, *model.Plan) {
	tb.Helper()
	var devs []device.Device
	for i := range p {
		devs = append(devs, device.NewCPU(fmt.Sprintf("cpu:%d", i)))
	}
	pl := pipelineOn(tb, cfg, name, devs, m, 1, batch)
	plan, err := model.Partition(cfg, device.Names(devs), model.PlanOptions{B: batch / m, T: cfg.MaxT, Recompute: r})
	if err != nil {
		tb.Fatal(err)
	}
	if pl.stages, err = newStages(devs, plan, batch/m, cfg.MaxT, vocab, prof.opsOf); err != nil {
		tb.Fatal(err)
	}
	for _, st := range pl.stages {
		st.Stack.Init(7)
	}
	pl.ex.Stages = pl.stages
	return pl, plan
}

// Every kernel a step calls, and as many times, is one the plan's kernel
// list (model.Plan.StepKernels) names at that shape: what the roofline
// prices is what the stacks run, for every kind of backward and recompute,
// and with a padded vocabulary its mask (model.Plan.PaddingKernel).
func TestProfileKernelsMatchesPlan(t *testing.T) {
	for _, tc := range []struct {
		schedule string
		r        model.Recompute
		vocab    int
	}{
		{"1f1b", model.RecomputeNone, 0}, {"gpipe", model.RecomputeGELU, 0}, {"1f1b", model.RecomputeBlock, 0},
		{"zb-h1", model.RecomputeNone, 0}, {"zb-h1", model.RecomputeBlock, 0}, {"1f1b", model.RecomputeNone, eqModel.V - 8},
	} {
		t.Run(fmt.Sprintf("%s-%v-vocab%d", tc.schedule, tc.r, tc.vocab), func(t *testing.T) {
			prof := newKernelProfile(true)
			pl, plan := profiledPipeline(t, eqModel, tc.schedule, 2, 4, eqBatch, tc.r, tc.vocab, prof)
			pl.step(t)
			prof.discard() // initialisation, and the first step's growing of the loss buffer (not measured in a run either)
			var kept []*StepResult
			for range 2 {
				res := pl.step(t)
				prof.keep(res)
				kept = append(kept, res)
			}
			want := map[string]float64{}
			ks := plan.StepKernels(pl.ex.Sched.Microbatches, pl.ex.Sched.SplitsBackward(), 4)
			if k, ok := plan.PaddingKernel(pl.ex.Sched.Microbatches, 4); ok && tc.vocab > 0 {
				ks = append(ks, k)
			}
			for _, k := range ks {
				want[k.Op+" "+k.Shape] += float64(k.Calls)
			}
			got := map[string]float64{}
			for _, k := range prof.times(kept, 4) {
				got[k.Op+" "+k.Shape] = k.Calls
				if k.Seconds <= 0 {
					t.Errorf("%s %s: measured %v s", k.Op, k.Shape, k.Seconds)
				}
			}
			for k, n := range want {
				if got[k] != n {
					t.Errorf("%s: %v calls per step timed, the plan lists %v", k, got[k], n)
				}
			}
			for k, n := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("%s: %v calls per step timed, not in the plan's list", k, n)
				}
			}
		})
	}
}

// Without --profile-kernels the stages compute on the devices' own Ops.
func TestProfileKernelsOffIsUntimed(t *testing.T) {
	dev := device.NewCPU("cpu:0")
	if ops := (*kernelProfile)(nil).opsOf(dev); ops != dev.Ops() {
		t.Errorf("a nil profile gives %T, want the device's own Ops", ops)
	}
	var prof *kernelProfile
	prof.discard()
	prof.keep(nil)
	if got := prof.times(nil, 4); got != nil {
		t.Errorf("a nil profile's times: %v", got)
	}
}

// BenchmarkProfileKernels is a step of the small model on two CPU devices
// with and without every kernel timed, and one call of the smallest
// kernel (Zero of one float) with and without: the decorator's cost per
// call, two events and an append, which on a busy machine the step's
// noise hides.
func BenchmarkProfileKernels(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("step/profile=%v", on), func(b *testing.B) {
			prof := newKernelProfile(on)
			pl, _ := profiledPipeline(b, model.Presets["small"], "1f1b", 2, 4, 8, model.RecomputeNone, 0, prof)
			pl.step(b)
			b.ResetTimer()
			for range b.N {
				res := pl.step(b)
				prof.keep(res)
			}
		})
	}
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("call/profile=%v", on), func(b *testing.B) {
			prof := newKernelProfile(on)
			ops := prof.opsOf(device.NewCPU("cpu:0"))
			buf := ops.Alloc(1)
			for i := range b.N {
				ops.Zero(buf)
				if i%4096 == 4095 {
					prof.discard()
				}
			}
		})
	}
}
