//go:build cuda

// Tests of the bf16 GEMM (cublasGemmEx on CUDA_R_16BF, CUBLAS_COMPUTE_32F) against the
// CPU backend fed the same bf16-rounded inputs and computing in float32.

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"baton/kernels"
	"baton/kernels/cpu"
	"baton/kernels/kernelstest"
)

// epsBF16 is bfloat16's machine epsilon, 2^-7: the gap between 1 and the next bf16.
// Rounding to nearest errs by at most half of it, relative.
const epsBF16 = 1.0 / 128

// tUploadAs puts host data in a new buffer of o of storage s (bf16 under BF16 for
// Working and Weights: the upload rounds to nearest even), and returns it with the
// values it holds, widened back to float32.
func tUploadAs(o *Ops, s kernels.Storage, x []float32) (Buf, []float32) {
	b := o.AllocAs(len(x), s).(Buf)
	o.Upload(b, x)
	held := make([]float32, len(x))
	for i, v := range x {
		held[i] = v
		if b.BF16 {
			held[i] = kernelstest.RoundBF16(v)
		}
	}
	return b, held
}

func absSlice(x []float32) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(math.Abs(float64(v)))
	}
	return y
}

// TestGemmBF16MatchesCPU: every element of c within half a bf16 epsilon of the CPU's
// float32 result (relative: the one rounding of the result to bf16), plus eps² of the
// magnitude of its terms, |alpha|·Σ|a||b| + |beta||c| (the float32 accumulation in
// whatever order cuBLAS or the tensor cores sum: at K ≤ 1024 the float sum errs by
// less than K·2^-24 ≤ 2^-14 = eps² of it). The inputs are bf16, so each product is
// exact in float32.
func TestGemmBF16MatchesCPU(t *testing.T) {
	ref := cpu.NewWorkers(1)
	o := testOps(t, kernels.BF16)
	r := rand.New(rand.NewPCG(16, 1))
	sizes := [][3]int{{1, 1, 1}, {7, 13, 5}, {33, 65, 129}, {128, 96, 64}, {64, 768, 256}, {5, 3, 0}, {0, 4, 3}, {3, 0, 2}}
	for _, sz := range sizes {
		M, N, K := sz[0], sz[1], sz[2]
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			for _, ab := range [][2]float32{{0.75, 0}, {0.75, 0.5}, {1, 1}, {0, 0.5}, {0, 1}, {0, 0}} {
				alpha, beta := ab[0], ab[1]
				name := fmt.Sprintf("M%d_N%d_K%d_tA%v_tB%v_alpha%v_beta%v", M, N, K, tr[0], tr[1], alpha, beta)
				a, b, c := randSlice(r, M*K), randSlice(r, K*N), randSlice(r, M*N)
				if beta == 0 {
					for i := range c {
						c[i] = float32(math.NaN()) // beta == 0 must not read c
					}
				}
				da, ha := tUploadAs(o, kernels.Working, a)
				db, hb := tUploadAs(o, kernels.Weights, b) // a parameter: its bf16 copy is what the GEMM reads
				dc, hc := tUploadAs(o, kernels.Working, c)
				if !da.BF16 || !db.BF16 || !dc.BF16 {
					t.Fatalf("AllocAs under BF16 gave float32 buffers")
				}
				want := append([]float32(nil), hc...)
				ref.Gemm(tr[0], tr[1], M, N, K, alpha, cpu.F32(ha), cpu.F32(hb), beta, cpu.F32(want))
				mag := absSlice(hc)
				if beta == 0 {
					mag = make([]float32, M*N)
				}
				ref.Gemm(tr[0], tr[1], M, N, K, float32(math.Abs(float64(alpha))), cpu.F32(absSlice(ha)), cpu.F32(absSlice(hb)),
					float32(math.Abs(float64(beta))), cpu.F32(mag))
				o.Gemm(tr[0], tr[1], M, N, K, alpha, da, db, beta, dc)
				got := tDownload(o, dc)
				bad := 0
				for i := range want {
					tol := epsBF16/2*math.Abs(float64(want[i])) + epsBF16*epsBF16*float64(mag[i])
					if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= tol) {
						if bad++; bad <= 3 {
							t.Errorf("%s: c[%d] = %g, want %g (CPU on the bf16 inputs): off by %.3g > %.3g", name, i, got[i], want[i], d, tol)
						}
					}
					if got[i] != kernelstest.RoundBF16(got[i]) {
						t.Fatalf("%s: c[%d] = %g is not a bf16", name, i, got[i])
					}
				}
				tFree(o, da, db, dc)
			}
		}
	}
}

// TestGemmBF16RefusesMixedStorage: a, b and c are all bf16 or all float32.
func TestGemmBF16RefusesMixedStorage(t *testing.T) {
	o := testOps(t, kernels.BF16)
	h, f := o.AllocAs(6, kernels.Working), o.AllocAs(6, kernels.Exact)
	for _, x := range []struct {
		a, b, c kernels.Buffer
		want    string
	}{
		{h, f, h, "b is float32"},
		{f, h, h, "a is float32"},
		{h, h, f, "c is float32"},
	} {
		msg := mustPanic(t, func() { o.Gemm(false, false, 2, 2, 3, 1, x.a, x.b, 0, x.c) })
		if !strings.Contains(msg, "cuda: Gemm:") || !strings.Contains(msg, "mixed storage") || !strings.Contains(msg, x.want) {
			t.Errorf("panic %q, want a mixed-storage refusal naming %q", msg, x.want)
		}
	}
	tFree(o, h.(Buf), f.(Buf))
}
