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
var gemmTol = map[Precision]float64{FP32: 1e-4, TF32: 1e-2}

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

func tFree(o *Ops, bs ...Buf) {
	for _, b := range bs {
		o.Allocator().Free(b)
	}
}

func TestGemmMatchesCPU(t *testing.T) {
	ref := cpu.NewWorkers(1)
	sizes := [][3]int{{1, 1, 1}, {7, 13, 5}, {33, 65, 129}, {128, 96, 64}, {64, 768, 256}, {5, 3, 0}, {0, 4, 3}, {3, 0, 2}}
	for _, prec := range []Precision{FP32, TF32} {
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

// TestGemmBatchedMatchesCPU checks gemmStridedBatched (dense, padded strides, a
// shared operand, rows wider than the matrix as heads inside a (T, 3C)
// activation, outputs side by side in the columns of one matrix) against one
// CPU Gemm per batch element.
func TestGemmBatchedMatchesCPU(t *testing.T) {
	ref := cpu.NewWorkers(1)
	type cse struct {
		M, N, K, batch   int
		tA, tB           bool
		lda, ldb, ldc    int // 0: dense
		padA, padB, padC int // stride = extent + pad
		shareA           bool
		sideC            bool // strideC = N: the outputs are column blocks of the same rows
	}
	cases := []cse{
		{M: 17, N: 9, K: 33, batch: 3},
		{M: 64, N: 64, K: 32, batch: 8, tB: true},
		{M: 32, N: 64, K: 64, batch: 5, tA: true, padA: 3, padB: 7, padC: 1},
		{M: 16, N: 24, K: 8, batch: 4, tA: true, tB: true, shareA: true},
		{M: 12, N: 12, K: 8, batch: 6, tB: true, lda: 3 * 8, ldb: 3 * 8, ldc: 40}, // q·kᵀ of heads in (T, 3C)
		{M: 12, N: 8, K: 12, batch: 2, lda: 12, ldb: 24, ldc: 24},
		{M: 12, N: 8, K: 12, batch: 3, tA: true, lda: 12, ldb: 24, ldc: 30, sideC: true}, // dK of heads into (T, 3C)
	}
	for _, prec := range []Precision{FP32, TF32} {
		o := testOps(t, prec)
		r := rand.New(rand.NewPCG(2, uint64(prec)))
		for _, c := range cases {
			name := fmt.Sprintf("%v/%+v", prec, c)
			rowsA, colsA := c.M, c.K
			if c.tA {
				rowsA, colsA = c.K, c.M
			}
			rowsB, colsB := c.K, c.N
			if c.tB {
				rowsB, colsB = c.N, c.K
			}
			lda, ldb, ldc := max(c.lda, colsA), max(c.ldb, colsB), max(c.ldc, c.N)
			sA, sB, sC := extent(rowsA, colsA, lda)+c.padA, extent(rowsB, colsB, ldb)+c.padB, extent(c.M, c.N, ldc)+c.padC
			if c.shareA {
				sA = 0
			}
			if c.sideC {
				sC = c.N
			}
			a := randSlice(r, sA*(c.batch-1)+extent(rowsA, colsA, lda))
			b := randSlice(r, sB*(c.batch-1)+extent(rowsB, colsB, ldb))
			cc := randSlice(r, sC*(c.batch-1)+extent(c.M, c.N, ldc))
			want := append([]float32(nil), cc...)
			for i := 0; i < c.batch; i++ {
				ai := tGather(a[i*sA:], rowsA, colsA, lda)
				bi := tGather(b[i*sB:], rowsB, colsB, ldb)
				ci := tGather(want[i*sC:], c.M, c.N, ldc)
				ref.Gemm(c.tA, c.tB, c.M, c.N, c.K, 1.25, cpu.F32(ai), cpu.F32(bi), 0.5, cpu.F32(ci))
				tScatter(want[i*sC:], ci, c.M, c.N, ldc)
			}
			da, db, dc := tUpload(o, a), tUpload(o, b), tUpload(o, cc)
			o.gemmStridedBatched("Test", c.tA, c.tB, c.M, c.N, c.K, 1.25, da, lda, sA, db, ldb, sB, 0.5, dc, ldc, sC, c.batch)
			got := tDownload(o, dc)
			if e := relErr(got, want); e > gemmTol[prec] {
				t.Errorf("%s: relative error %.3g > %g", name, e, gemmTol[prec])
			}
			tFree(o, da, db, dc)
		}
	}
}

// tGather copies a (rows, cols) matrix with row stride ld into a dense slice.
func tGather(x []float32, rows, cols, ld int) []float32 {
	out := make([]float32, rows*cols)
	for i := 0; i < rows; i++ {
		copy(out[i*cols:(i+1)*cols], x[i*ld:])
	}
	return out
}

// tScatter is tGather's inverse.
func tScatter(x, dense []float32, rows, cols, ld int) {
	for i := 0; i < rows; i++ {
		copy(x[i*ld:i*ld+cols], dense[i*cols:])
	}
}

func TestGemmShapeErrors(t *testing.T) {
	o := testOps(t, FP32)
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
		{func() { o.gemmStridedBatched("Attn", false, false, 2, 2, 1, 1, a, 1, 2, b, 2, 2, 0, c, 2, 2, 2) }, "outputs of the batch overlap"},
		{func() { o.gemmStridedBatched("Attn", false, false, 2, 2, 1, 1, a, 1, 2, b, 2, 2, 0, c, 3, 2, 2) }, "outputs of the batch overlap"},
		{func() { o.gemmStridedBatched("Attn", false, false, 2, 2, 2, 1, a, 1, 0, b, 2, 0, 0, c, 2, 0, 1) }, "leading dimension"},
	} {
		msg := mustPanic(t, x.f)
		if !strings.Contains(msg, x.want) || !(strings.Contains(msg, "cuda: Gemm:") || strings.Contains(msg, "cuda: Attn:")) {
			t.Errorf("panic %q, want %q naming the op", msg, x.want)
		}
	}
	tFree(o, a.(Buf), b.(Buf), c.(Buf), ia.(Buf))
}
