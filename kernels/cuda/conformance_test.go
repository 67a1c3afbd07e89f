//go:build cuda

// The conformance suite over the GPU backend, in both precisions, against float64
// references and against the CPU backend on the same inputs.

package cuda

import (
	"testing"

	"baton/kernels"
	"baton/kernels/cpu"
	"baton/kernels/kernelstest"
)

func TestConformance(t *testing.T) {
	for _, p := range []kernels.Precision{kernels.FP32, kernels.TF32} {
		tol := kernelstest.FP32
		if p == kernels.TF32 {
			tol = kernelstest.TF32
		}
		t.Run(p.String(), func(t *testing.T) {
			// The suite closes a backend that has Close; the shared Ops must outlive it,
			// so it is handed over behind the interface alone.
			shared := func() kernels.Ops { return struct{ kernels.Ops }{gpu.ops[p]} }
			reference := func() kernels.Ops { return cpu.New() }
			kernelstest.RunAgainst(t, shared, reference, tol)
		})
	}
}
