//go:build cuda

// Tests of the GEMMs against the CPU backend (every transpose, odd sizes, both
// precisions, the batched and strided forms).

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

// gemmTol is the relative error allowed against the CPU reference: the largest
// difference over the largest magnitude of the reference.
var gemmTol = map[kernels.Precision]float64{kernels.FP32: 1e-4, kernels.TF32: 1e-2}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.Float64()*2 - 1)
	}
	return s
}

// relErr is max |got-want| / max |want| (absolute when want is all zeros); NaN counts as infinite.
func relErr(got, want []float32) float64 {
	var diff, scale float64
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		diff = max(diff, d)
		scale = max(scale, math.Abs(float64(want[i])))
	}
	if scale == 0 {
		return diff
	}
	return diff / scale
}

// tUpload puts host data in a new buffer of o.
func tUpload(o *Ops, x []float32) Buf {
	b := o.Alloc(len(x)).(Buf)
	o.Upload(b, x)
	return b
}

func tDownload(o *Ops, b kernels.Buffer) []float32 {
	x := make([]float32, b.Len())
	o.Download(x, b)
	return x
}

// tFree hands buffers back to the allocator once o's stream is done with them: the
// tests' Ops share one allocator over three streams, so a block freed while an upload
// into it is still queued on o's stream (an op that returned early, a download of zero
// elements, which do not synchronise) could be handed to another precision's Ops and
// overwritten under it by that late copy.
func tFree(o *Ops, bs ...Buf) {
	if err := o.Sync(); err != nil {
		panic(err)
	}
	for _, b := range bs {
		o.Allocator().Free(b)
	}
}

func TestGemmMatchesCPU(t *testing.T) {
	ref := cpu.NewWorkers(1)
	sizes := [][3]int{{1, 1, 1}, {7, 13, 5}, {33, 65, 129}, {128, 96, 64}, {64, 768, 256}, {5, 3, 0}, {0, 4, 3}, {3, 0, 2}}
	for _, prec := range []kernels.Precision{kernels.FP32, kernels.TF32} {
		o := testOps(t, prec)
		r := rand.New(rand.NewPCG(1, uint64(prec)))
		for _, sz := range sizes {
			M, N, K := sz[0], sz[1], sz[2]
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				for _, ab := range [][2]float32{{0.75, 0}, {0.75, 0.5}, {0, 0.5}} {
					alpha, beta := ab[0], ab[1]
					name := fmt.Sprintf("%v/M%d_N%d_K%d_tA%v_tB%v_alpha%v_beta%v", prec, M, N, K, tr[0], tr[1], alpha, beta)
					a, b, c := randSlice(r, M*K), randSlice(r, K*N), randSlice(r, M*N)
					if beta == 0 {
						for i := range c {
							c[i] = float32(math.NaN()) // beta == 0 must not read c
						}
					}
					want := append([]float32(nil), c...)
					ref.Gemm(tr[0], tr[1], M, N, K, alpha, cpu.F32(a), cpu.F32(b), beta, cpu.F32(want))
					da, db, dc := tUpload(o, a), tUpload(o, b), tUpload(o, c)
					o.Gemm(tr[0], tr[1], M, N, K, alpha, da, db, beta, dc)
					got := tDownload(o, dc)
					if e := relErr(got, want); e > gemmTol[prec] {
						t.Errorf("%s: relative error %.3g > %g", name, e, gemmTol[prec])
					}
					tFree(o, da, db, dc)
				}
			}
		}
	}
}

func TestGemmShapeErrors(t *testing.T) {
	o := testOps(t, kernels.FP32)
	a, b, c := o.Alloc(6), o.Alloc(6), o.Alloc(4)
	ia := o.AllocInt(6)
	for _, x := range []struct {
		f    func()
		want string
	}{
		{func() { o.Gemm(false, false, 2, 2, 4, 1, a, b, 0, c) }, "a has 6 elements, needs 8"},
		{func() { o.Gemm(false, false, 2, 3, 3, 1, a, b, 0, c) }, "b has 6 elements, needs 9"},
		{func() { o.Gemm(false, false, 2, 3, 2, 1, a, b, 0, c) }, "c has 4 elements, needs 6"},
		{func() { o.Gemm(false, false, -1, 2, 2, 1, a, b, 0, c) }, "negative size"},
		{func() { o.Gemm(false, false, 2, 2, 3, 1, ia, b, 0, c) }, "a is an int32 buffer"},
		{func() { o.Gemm(false, false, 2, 2, 3, 1, cpu.F32(make([]float32, 6)), b, 0, c) }, "cpu.F32"},
	} {
		msg := mustPanic(t, x.f)
		if !strings.Contains(msg, x.want) || !strings.Contains(msg, "cuda: Gemm:") {
			t.Errorf("panic %q, want %q naming the op", msg, x.want)
		}
	}
	tFree(o, a.(Buf), b.(Buf), c.(Buf), ia.(Buf))
}
