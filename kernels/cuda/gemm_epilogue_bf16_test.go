//go:build cuda

// Tests of the fused GEMMs (GemmBias, GemmBiasGELU: cuBLASLt's BIAS and GELU_AUX_BIAS
// epilogues, or their unfused form where cuBLASLt cannot) against the CPU backend on
// the same inputs (bf16-rounded under BF16), in every precision.

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"baton/kernels"
	"baton/kernels/cpu"
)

// TestGemmEpilogueMatchesCPU: pre = op(a) op(b) + bias and c = GELU(pre) (or c = pre
// for GemmBias), and GemmDGELU's c = op(a) op(b) GELU'(pre), against the CPU's Gemm,
// BiasForward, GeluForward and GeluBackward on the inputs the device holds. Under BF16 each output element errs by half a bf16 epsilon of itself
// (its one rounding) and, where the unfused form runs (no cuBLASLt algorithm, N not
// a multiple of 8 for GELU), by one more rounding of the product before the bias is
// added (or GELU' multiplies it), which can be as large as the terms: eps/2 of m =
// Σ|a||b| (+ |bias|), times GELU's largest slope (and GELU' at most) 1.13, plus eps² m for the float32 sums: eps/2 |want| +
// 0.6 eps m; fused (one rounding), (eps/2 + eps/8) |want| + 2 eps² m, the eps/8 for a
// GELU taken with the GPU's tanh.approx (relative error 2^-11). In float32 (FP32; TF32, whose products are TF32) 1e-4 and 1e-2 of the
// tensor's largest element, as TestGemmMatchesCPU.
func TestGemmEpilogueMatchesCPU(t *testing.T) {
	ref := cpu.NewWorkers(1)
	sizes := [][3]int{{1, 8, 1}, {7, 16, 5}, {33, 64, 129}, {64, 768, 256}, {5, 13, 7}, {4, 8, 0}}
	for _, prec := range []kernels.Precision{kernels.BF16, kernels.FP32, kernels.TF32} {
		o := testOps(t, prec)
		r := rand.New(rand.NewPCG(16, 4+uint64(prec)))
		for _, sz := range sizes {
			M, N, K := sz[0], sz[1], sz[2]
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				for _, mode := range []string{"bias", "gelu", "dgelu"} {
					gelu := mode == "gelu"
					name := fmt.Sprintf("%v/M%d_N%d_K%d_tA%v_tB%v_%s", prec, M, N, K, tr[0], tr[1], mode)
					da, ha := tUploadAs(o, kernels.Working, randSlice(r, M*K))
					db, hb := tUploadAs(o, kernels.Weights, randSlice(r, K*N))
					dbias, hbias := tUploadAs(o, kernels.Weights, randSlice(r, N))
					nan := make([]float32, M*N)
					for i := range nan {
						nan[i] = float32(math.NaN()) // overwritten, never read
					}
					dc, _ := tUploadAs(o, kernels.Working, nan)
					dpre, _ := tUploadAs(o, kernels.Working, nan)
					wPre := make([]float32, M*N)
					ref.Gemm(tr[0], tr[1], M, N, K, 1, cpu.F32(ha), cpu.F32(hb), 0, cpu.F32(wPre))
					if mode != "dgelu" {
						ref.BiasForward(cpu.F32(wPre), cpu.F32(hbias), M, N)
					}
					wC := append([]float32(nil), wPre...)
					calls := o.blas.ltCalls
					switch mode {
					case "gelu":
						ref.GeluForward(cpu.F32(wC), cpu.F32(wPre), M*N)
						o.GemmBiasGELU(tr[0], tr[1], M, N, K, da, db, dbias, dpre, dc)
					case "dgelu": // dc = (a b) * GELU'(pre), pre an input
						tFree(o, dpre)
						var hpre []float32
						dpre, hpre = tUploadAs(o, kernels.Working, randSlice(r, M*N))
						ref.GeluBackward(cpu.F32(wC), cpu.F32(hpre), cpu.F32(wPre), M*N)
						o.GemmDGELU(tr[0], tr[1], M, N, K, da, db, dpre, dc)
					default:
						o.GemmBias(tr[0], tr[1], M, N, K, da, db, dbias, dc)
					}
					// cuBLASLt takes every case but these (cudaemu has an algorithm for
					// any operands; a GPU's may refuse odd shapes, which run unfused).
					if unfused := K == 0 || (mode != "bias" && N%8 != 0) || prec == kernels.TF32; unfused && o.blas.ltCalls != calls {
						t.Errorf("%s: ran on cuBLASLt", name)
					} else if !unfused && o.blas.ltCalls == calls && N%8 == 0 {
						t.Logf("%s: ran unfused (cuBLASLt: no algorithm)", name)
						if isEmulated() {
							t.Errorf("%s: cudaemu ran it unfused", name)
						}
					}
					fused := o.blas.ltCalls != calls
					mag := make([]float32, M*N)
					ref.Gemm(tr[0], tr[1], M, N, K, 1, cpu.F32(absSlice(ha)), cpu.F32(absSlice(hb)), 0, cpu.F32(mag))
					if mode != "dgelu" {
						ref.BiasForward(cpu.F32(mag), cpu.F32(absSlice(hbias)), M, N)
					}
					check := func(what string, got, want []float32) {
						t.Helper()
						if prec != kernels.BF16 {
							if e := relErr(got, want); e > gemmTol[prec] {
								t.Errorf("%s: %s: relative error %.3g > %g", name, what, e, gemmTol[prec])
							}
							return
						}
						bad := 0
						for i := range want {
							tol := epsBF16/2*math.Abs(float64(want[i])) + 0.6*epsBF16*float64(mag[i])
							if fused { // one rounding, the float32 sums' error, and eps/8 for a GPU's tanh.approx in GELU
								tol = (epsBF16/2+epsBF16/8)*math.Abs(float64(want[i])) + 2*epsBF16*epsBF16*float64(mag[i])
							}
							if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= tol) {
								if bad++; bad <= 3 {
									t.Errorf("%s: %s[%d] = %g, want %g (CPU): off by %.3g > %.3g", name, what, i, got[i], want[i], d, tol)
								}
							}
						}
					}
					check("c", tDownload(o, dc), wC)
					if gelu {
						check("pre", tDownload(o, dpre), wPre)
					}
					tFree(o, da, db, dbias, dc, dpre)
				}
			}
		}
	}
}

// isEmulated reports whether the device is cudaemu's.
func isEmulated() bool {
	name, _ := gpu.dev.Name()
	return strings.Contains(name, "cudaemu")
}

// TestCublasLtLoaded: cuBLASLt is found beside cuBLAS (cuBLAS 11 to 13 depend on it),
// so the fused GEMMs can run fused.
func TestCublasLtLoaded(t *testing.T) {
	testOps(t, kernels.BF16)
	if cublasLib.ltErr != nil {
		t.Fatal(cublasLib.ltErr)
	}
	for p, o := range gpu.ops {
		if o.blas.lt == nil {
			t.Errorf("%v: no cuBLASLt handle", p)
		}
	}
}
