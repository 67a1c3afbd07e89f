// Level 3 of the testing plan: a pipeline over p virtual devices trains exactly as one device does.
package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"baton/kernels"
	"baton/model"
)

// eqModel has 4 blocks so it splits over 1, 2 and 4 devices.
var eqModel = model.Config{V: 64, MaxT: 8, C: 16, NH: 2, L: 4}

const eqBatch, eqSteps = 8, 3

type trained struct {
	losses []float64
	params map[string][]float32
}

// trainPipeline runs eqSteps steps of a schedule over p CPU devices.
func trainPipeline(t *testing.T, schedule string, p, m int) trained {
	t.Helper()
	var names []string
	var devs []Device
	for i := range p {
		names = append(names, fmt.Sprintf("cpu:%d", i))
		devs = append(devs, NewCPUDevice(names[i]))
	}
	sched, err := Generate(schedule, p, m)
	if err != nil {
		t.Fatal(err)
	}
	m = sched.Microbatches
	plan, err := model.Partition(eqModel, names, model.PlanOptions{B: eqBatch / m, T: eqModel.MaxT})
	if err != nil {
		t.Fatal(err)
	}
	stages, err := NewStages(devs, plan, eqBatch/m, eqModel.MaxT)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range stages {
		st.Stack.Init(7)
	}
	lowered := Lower(sched)
	if err := Validate(lowered); err != nil {
		t.Fatal(err)
	}
	ex := &Executor{Sched: lowered, Stages: stages, Devices: devs}
	T := eqModel.MaxT
	inputs, targets := make([]int32, eqBatch*T), make([]int32, eqBatch*T)
	in := &StepInput{Tokens: microbatches(inputs, m), Targets: microbatches(targets, m), DScale: 1 / float32(eqBatch*T),
		MaxGradNorm: 0.5, Adam: kernels.AdamParams{LR: 3e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}}
	var out trained
	rng := rand.New(rand.NewPCG(1, 2))
	for step := 1; step <= eqSteps; step++ {
		for i := range inputs {
			inputs[i], targets[i] = int32(rng.IntN(eqModel.V)), int32(rng.IntN(eqModel.V))
		}
		in.AdamStep = step
		res, err := ex.Run(in)
		if err != nil {
			t.Fatal(err)
		}
		out.losses = append(out.losses, res.Loss)
	}
	ck, err := gather(stages, eqModel, TrainState{})
	if err != nil {
		t.Fatal(err)
	}
	out.params = ck.Params
	return out
}

func TestPipelineEqualsSingleDevice(t *testing.T) {
	for _, m := range []int{1, 4, 8} {
		ref := trainPipeline(t, "gpipe", 1, m)
		for _, schedule := range []string{"naive", "gpipe", "1f1b"} {
			for _, p := range []int{1, 2, 4} {
				t.Run(fmt.Sprintf("%s/p=%d/m=%d", schedule, p, m), func(t *testing.T) {
					got := trainPipeline(t, schedule, p, m)
					want := ref
					if schedule == "naive" {
						// naive runs the whole batch as one micro-batch, whatever m says.
						want = trainPipeline(t, "gpipe", 1, 1)
					}
					for i := range want.losses {
						if got.losses[i] != want.losses[i] {
							t.Errorf("step %d: loss %v, single device %v", i+1, got.losses[i], want.losses[i])
						}
					}
					for name, w := range want.params {
						g := got.params[name]
						for j := range w {
							if g[j] != w[j] {
								t.Fatalf("%s[%d] = %v, single device %v (after %d steps)", name, j, g[j], w[j], eqSteps)
							}
						}
					}
				})
			}
		}
	}
}

// Different micro-batch counts sum gradients in a different order, so they
// agree only to float32 rounding: a relative 1e-4 on losses and parameters
// after a few steps is many times the rounding seen and far below any bug.
func TestMicrobatchCountChangesOnlyRounding(t *testing.T) {
	ref := trainPipeline(t, "gpipe", 1, 1)
	for _, m := range []int{4, 8} {
		got := trainPipeline(t, "1f1b", 4, m)
		for i := range ref.losses {
			if d := math.Abs(got.losses[i] - ref.losses[i]); d > 1e-4*math.Abs(ref.losses[i]) {
				t.Errorf("m=%d step %d: loss %v vs %v", m, i+1, got.losses[i], ref.losses[i])
			}
		}
		for name, w := range ref.params {
			for j, v := range w {
				if d := math.Abs(float64(got.params[name][j] - v)); d > 1e-4*math.Max(1, math.Abs(float64(v))) {
					t.Fatalf("m=%d %s[%d] = %v vs %v", m, name, j, got.params[name][j], v)
				}
			}
		}
	}
}
