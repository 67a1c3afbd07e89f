//go:build cuda

// bf16 training on CUDA devices against float32 on cpu:0: the same losses within 2% for 50 steps, whole and pipelined.

package runtime

import (
	"fmt"
	"math"
	"testing"

	"baton/kernels"
	"baton/runtime/device"
)

// TestCUDABF16TracksFP32 trains the tiny model (L=4) for 50 steps in bf16 on
// CUDA devices and in float32 on cpu:0, from the same weights on the same
// batches of a task it can learn (learn: the loss falls by more than 15%):
// every step's loss and a final evaluation must agree within 2%
// (the bound for bf16 against fp32). bf16 keeps 8 significant bits
// (relative rounding 2^-9 ≈ 0.2% per value) in activations, weights read by
// the products and gradients; the float32 masters and moments keep the
// updates from drifting, so the curves stay close. A bf16 path that read a
// float32 buffer as bf16 (or the reverse) gives losses far off, or NaN. The runs cover the whole GPU
// with 1f1b, and two partitions with zb-h1's split backward, where the
// activations and gradients cross between partitions as bf16; and a run
// that never rounded to bf16 fails too.
func TestCUDABF16TracksFP32(t *testing.T) {
	cfg := tinyL4()
	const steps, m = 50, 4
	cpu := pipelineOn(t, cfg, "1f1b", []device.Device{device.NewCPU("cpu:0")}, m, 1, 4)
	var want []float64
	for range steps {
		want = append(want, learn(t, cpu).Loss)
	}
	if want[steps-1] > 0.85*want[0] {
		t.Fatalf("fp32 on cpu:0 did not learn: loss %.4f → %.4f; the comparison would say little", want[0], want[steps-1])
	}
	wantEval, err := cpu.ex.Evaluate(cpu.in)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ list, schedule string }{{"cuda:0", "1f1b"}, {"cuda:0/2", "zb-h1"}} {
		t.Run(fmt.Sprintf("%s/%s", c.list, c.schedule), func(t *testing.T) {
			gpu := pipelineOn(t, cfg, c.schedule, asDevices(openCUDAIn(t, c.list, kernels.BF16)), m, 1, 4)
			worst := 0.0
			check := func(what string, got, want float64) {
				rel := math.Abs(got-want) / math.Abs(want)
				worst = max(worst, rel)
				if !(rel <= 0.02) {
					t.Fatalf("%s: loss %.5f in bf16 on %s, %.5f in fp32 on cpu:0 (relative difference %.3g > 2%%)", what, got, c.list, want, rel)
				}
			}
			for i := range steps {
				check(fmt.Sprintf("step %d", i+1), learn(t, gpu).Loss, want[i])
			}
			eval, err := gpu.ex.Evaluate(gpu.in)
			if err != nil {
				t.Fatal(err)
			}
			check("evaluation", eval, wantEval)
			// The weights a checkpoint saves are the float32 masters: after 50
			// updates almost none is a bf16 value (a bf16 copy saved instead
			// would be nothing else).
			st := gpu.stages[0].Stack
			w := st.Read(st.P, 0)
			if n := bf16Values(w); n > len(w)/10 {
				t.Errorf("%d of %s's %d saved values are bf16 values: the masters were not kept", n, st.P.Specs[0].Name, len(w))
			}
			// fp32 on a GPU tracks the CPU within 1e-3 of a loss in 20 steps
			// (TestCUDATinyTracksCPU), mostly far closer: a "bf16" run that
			// never rounded would too.
			if worst < 1e-4 {
				t.Errorf("bf16 losses within %.2g of fp32's: the run did not compute in bf16", worst)
			}
			t.Logf("50 losses and an evaluation within %.2g of fp32's (first %.4f, last %.4f)", worst, want[0], want[steps-1])
		})
	}
}

// bf16Values counts the values of x that bfloat16 holds exactly.
func bf16Values(x []float32) int {
	n := 0
	for _, v := range x {
		if math.Float32bits(v)&0xffff == 0 {
			n++
		}
	}
	return n
}

// learn runs one training step on random tokens whose targets are a fixed
// function of them, which the model learns within tens of steps (random
// targets leave nothing to learn: the loss stays at ln V).
func learn(tb testing.TB, p *pipeline) *StepResult {
	tb.Helper()
	for j, mb := range p.in.Tokens {
		for i := range mb {
			mb[i] = int32(p.rng.IntN(p.v))
			p.in.Targets[j][i] = (mb[i]*31 + 7) % int32(p.v)
		}
	}
	return p.run(tb)
}
