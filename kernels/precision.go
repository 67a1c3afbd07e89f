// Precision: the arithmetic of a backend's matrix products, chosen when its device is opened.

package kernels

import (
	"fmt"
	"strings"
)

// Precision selects how the matrix products compute. The CPU backend
// computes in float32 whatever it is; the CUDA backend runs its GEMMs on
// cuBLAS and the attention's products on tensor cores (3xTF32 in FP32, TF32
// in TF32); every other kernel is float32.
type Precision int

const (
	// FP32 is IEEE float32 arithmetic throughout (cuBLAS CUBLAS_COMPUTE_32F, no tensor
	// cores): 51.7 TFLOP/s at 4096³ on the H100, within 1e-4 of the CPU reference.
	FP32 Precision = iota
	// TF32 multiplies on tensor cores with 10-bit mantissas and accumulates in float32
	// (CUBLAS_COMPUTE_32F_FAST_TF32): 432 TFLOP/s at 4096³, within about 1e-3.
	TF32
)

// Precisions lists every precision, in the order of Precision's values.
var Precisions = []Precision{FP32, TF32}

// String is the precision's name: "fp32" or "tf32".
func (p Precision) String() string {
	switch p {
	case FP32:
		return "fp32"
	case TF32:
		return "tf32"
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// ParsePrecision parses a precision's name, "fp32" or "tf32" (any case).
func ParsePrecision(s string) (Precision, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "fp32":
		return FP32, nil
	case "tf32":
		return TF32, nil
	}
	return 0, fmt.Errorf("precision %q: want fp32 (exact float32 GEMMs) or tf32 (tensor-core GEMMs, about 8x faster)", s)
}
