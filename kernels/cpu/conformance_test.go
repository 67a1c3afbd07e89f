// Conformance: the backend-independent suite of kernels/kernelstest, run on the CPU backend on every instruction set this host has.

package cpu_test

import (
	"testing"

	"baton/kernels"
	"baton/kernels/cpu"
	"baton/kernels/kernelstest"
)

func TestConformance(t *testing.T) {
	for _, isa := range cpu.ISAs() {
		t.Run(isa, func(t *testing.T) {
			kernelstest.Run(t, func() kernels.Ops { return cpu.NewISA(isa) }, kernelstest.FP32)
		})
	}
}

// TestConformanceAgainstGeneric: every SIMD path agrees with the portable
// one op by op, within the same tolerances as with the float64 references.
func TestConformanceAgainstGeneric(t *testing.T) {
	generic := func() kernels.Ops { return cpu.NewISA("generic") }
	for _, isa := range cpu.ISAs()[1:] {
		t.Run(isa, func(t *testing.T) {
			kernelstest.RunAgainst(t, func() kernels.Ops { return cpu.NewISA(isa) }, generic, kernelstest.FP32)
		})
	}
}
