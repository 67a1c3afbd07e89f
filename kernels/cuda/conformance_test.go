//go:build cuda

// The conformance suite over the GPU backend, in every precision, against float64
// references and against the CPU backend on the same inputs (under BF16 the suite
// rounds the inputs to bf16 first, so the CPU backend computes in float32 on the very
// values the bf16 kernels read).

package cuda

import (
	"testing"

	"baton/kernels"
	"baton/kernels/cpu"
	"baton/kernels/kernelstest"
)

func TestConformance(t *testing.T) {
	for _, p := range []kernels.Precision{kernels.FP32, kernels.TF32, kernels.BF16} {
		tol := map[kernels.Precision]kernelstest.Tolerances{
			kernels.FP32: kernelstest.FP32, kernels.TF32: kernelstest.TF32, kernels.BF16: kernelstest.BF16,
		}[p]
		t.Run(p.String(), func(t *testing.T) {
			// The suite closes a backend that has Close; the shared Ops must outlive it,
			// so it is handed over behind the interface alone.
			shared := func() kernels.Ops { return struct{ kernels.Ops }{gpu.ops[p]} }
			reference := func() kernels.Ops { return cpu.New() }
			kernelstest.RunAgainst(t, shared, reference, tol)
		})
	}
}
