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
	// BF16 stores activations, gradients and the parameters the products read in
	// bfloat16 (8 exponent bits, 7 mantissa bits), with float32 master weights and
	// moments, and accumulates every product and reduction in float32 (cuBLAS
	// CUBLAS_COMPUTE_32F on bf16 operands): the CUDA backend only (see Storage).
	BF16
)

// Precisions lists every precision, in the order of Precision's values.
var Precisions = []Precision{FP32, TF32, BF16}

// String is the precision's name: "fp32", "tf32" or "bf16".
func (p Precision) String() string {
	switch p {
	case FP32:
		return "fp32"
	case TF32:
		return "tf32"
	case BF16:
		return "bf16"
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// ParsePrecision parses a precision's name, "fp32", "tf32" or "bf16" (any case).
func ParsePrecision(s string) (Precision, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "fp32":
		return FP32, nil
	case "tf32":
		return TF32, nil
	case "bf16":
		return BF16, nil
	}
	return 0, fmt.Errorf("precision %q: want fp32 (exact float32 GEMMs), tf32 (tensor-core GEMMs, about 8x faster) or bf16 (bfloat16 activations and tensor cores, float32 masters; CUDA devices)", s)
}
