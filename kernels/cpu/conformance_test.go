// Conformance: the backend-independent suite of kernels/kernelstest, run on the CPU backend.

package cpu_test

import (
	"testing"

	"baton/kernels"
	"baton/kernels/cpu"
	"baton/kernels/kernelstest"
)

func TestConformance(t *testing.T) {
	kernelstest.Run(t, func() kernels.Ops { return cpu.New() }, kernelstest.FP32)
}
