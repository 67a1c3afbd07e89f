// Gemm: the tiled, packed matrix multiply (on gonum's dot kernel), plus the bias ops of a linear layer.

package cpu

import (
	"fmt"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

	"baton/kernels"
)

// Gemm packs tiles of op(a) and op(b) and hands each tile to gonum's serial
// Sgemm kernel in its (NoTrans, Trans) form, whose inner loop is gonum's SSE
// assembly dot product; the tiling, the packing and the parallel split over
// tiles are ours. It won against both alternatives (BenchmarkGemm, which
// keeps the rivals): a pure-Go packed kernel with a 4x2 register tile (Go
// does not vectorise, and spills beyond about eight accumulators), and
// gonum's Sgemm called directly (its NN and TN cases use an axpy kernel, and
// it starts a goroutine per 64x64 block: 66 to 258 allocations per call).
// GFLOP/s of wall time (of CPU time, i.e. per core), median of 3, on 2 vCPUs
// of an Intel Xeon (family 6 model 207, 2.1 GHz), a shared machine:
//
//	M x N x K     op   pure-Go      gonum        this
//	512x512x512   NN    5.6 (2.9)   10.1 (5.1)   17.4 (8.8)
//	512x512x512   NT    5.2 (2.7)   12.7 (6.5)   22.7 (11.5)
//	512x512x512   TN    5.2 (2.7)    6.0 (3.0)   13.1 (6.6)
//	1024x384x128  NN    5.0 (2.6)    8.2 (4.2)   14.6 (7.4)
//	1024x384x128  NT    5.0 (2.6)   11.6 (6.0)   15.5 (7.8)
//	1024x384x128  TN    5.2 (2.6)    6.0 (3.1)   13.1 (6.6)
//	1024x512x128  NN    6.8 (3.5)   12.6 (6.5)   16.4 (8.3)
//	1024x512x128  NT    8.9 (4.5)   21.7 (11.1)  29.4 (14.8)
//	1024x512x128  TN    7.5 (3.8)    9.6 (4.9)   28.2 (14.2)
//	1024x128x512  NN    8.0 (4.2)   14.0 (7.1)   24.0 (12.2)
//	1024x128x512  NT    9.9 (5.0)   18.7 (9.5)   32.3 (16.6)
//	1024x128x512  TN    9.8 (4.9)    6.0 (3.0)   19.4 (9.8)
//
// Packing every operand (even one already in the right layout) has two more
// reasons: the four transpose cases become one, and gonum's dot sums in an
// order that depends on the address alignment of its inputs, which packing
// into 16-byte-aligned rows fixes. Otherwise the same matrices at another
// offset (a pipeline stage's own copy of a weight) could round differently.
//
// Determinism: C is cut into tiles of gemmMC x gemmNC (one parallel item
// each) and K into blocks of gemmKC; each C element adds its K blocks in
// order, and each block's dot product sees the same packed layout wherever
// the element's tile is. So the worker count never changes a bit, and
// neither does M: a micro-batch's rows come out exactly as in the full batch.
const (
	gemmMC = 64
	gemmNC = 64 // gonum's own block: a bigger tile would make it spawn goroutines
	gemmKC = 256
)

// packBufs holds one tile's packed rows: op(a) (gemmMC, gemmKC) and op(b)ᵀ
// (gemmNC, gemmKC), reused across calls so that Gemm allocates nothing.
type packBufs struct {
	a [gemmMC * gemmKC]float32
	b [gemmNC * gemmKC]float32
}

var packPool = sync.Pool{New: func() any { return new(packBufs) }}

// gemmTask is one Gemm call; items are C tiles in row-major tile order.
type gemmTask struct {
	transA, transB bool
	M, N, K        int
	alpha, beta    float32
	a, b, c        []float32
	tilesN         int
}

var gemmTasks taskPool[gemmTask]

// Gemm: c (M,N) = alpha * op(a) @ op(b) + beta * c. beta == 0 overwrites c
// without reading it, so NaNs in c do not survive. c must not overlap a or b.
func (o *Ops) Gemm(transA, transB bool, M, N, K int, alpha float32, a, b kernels.Buffer, beta float32, c kernels.Buffer) {
	if M < 0 || N < 0 || K < 0 {
		panic(fmt.Sprintf("cpu: Gemm: negative size M=%d N=%d K=%d", M, N, K))
	}
	t := gemmTasks.get()
	*t = gemmTask{
		transA: transA, transB: transB, M: M, N: N, K: K, alpha: alpha, beta: beta,
		a: need("Gemm", "a", a, M*K), // (M,K), or (K,M) when transA
		b: need("Gemm", "b", b, K*N), // (K,N), or (N,K) when transB
		c: need("Gemm", "c", c, M*N), // (M,N)
	}
	if M == 0 || N == 0 {
		gemmTasks.put(t)
		return
	}
	tilesM := (M + gemmMC - 1) / gemmMC
	t.tilesN = (N + gemmNC - 1) / gemmNC
	tileCost := 2 * min(M, gemmMC) * min(N, gemmNC) * max(K, 1)
	o.parallel(tilesM*t.tilesN, (minChunkCost+tileCost-1)/tileCost, t)
	gemmTasks.put(t)
}

func (g *gemmTask) run(lo, hi int) {
	p := packPool.Get().(*packBufs)
	for tile := lo; tile < hi; tile++ {
		i0 := tile / g.tilesN * gemmMC
		j0 := tile % g.tilesN * gemmNC
		g.tile(p, i0, min(gemmMC, g.M-i0), j0, min(gemmNC, g.N-j0))
	}
	packPool.Put(p)
}

// tile computes c[i0:i0+mc, j0:j0+nc].
func (g *gemmTask) tile(p *packBufs, i0, mc, j0, nc int) {
	N := g.N
	c := g.c[i0*N+j0:]
	for i := 0; i < mc; i++ {
		row := c[i*N : i*N+nc]
		switch g.beta {
		case 0:
			clear(row)
		case 1:
		default:
			for j := range row {
				row[j] *= g.beta
			}
		}
	}
	if g.alpha == 0 {
		return
	}
	for k0 := 0; k0 < g.K; k0 += gemmKC {
		kc := min(gemmKC, g.K-k0)
		ld := (kc + 3) &^ 3 // packed rows start 16-byte aligned
		ap := p.a[:mc*ld]   // (mc, ld): rows i0.. of op(a), columns k0..
		bp := p.b[:nc*ld]   // (nc, ld): columns j0.. of op(b), as rows
		g.packA(ap, ld, i0, mc, k0, kc)
		g.packB(bp, ld, j0, nc, k0, kc)
		gonum.Implementation{}.Sgemm(blas.NoTrans, blas.Trans, mc, nc, kc, g.alpha, ap, ld, bp, ld, 1, c, N)
	}
}

// packA copies op(a)[i0:i0+mc, k0:k0+kc] into dst (mc, ld).
func (g *gemmTask) packA(dst []float32, ld, i0, mc, k0, kc int) {
	if g.transA { // a (K, M): gather columns
		M := g.M
		for k := 0; k < kc; k++ {
			src := g.a[(k0+k)*M+i0 : (k0+k)*M+i0+mc]
			for r, v := range src {
				dst[r*ld+k] = v
			}
		}
		return
	}
	K := g.K // a (M, K): copy rows
	for r := 0; r < mc; r++ {
		copy(dst[r*ld:r*ld+kc], g.a[(i0+r)*K+k0:])
	}
}

// packB copies op(b)[k0:k0+kc, j0:j0+nc] transposed into dst (nc, ld).
func (g *gemmTask) packB(dst []float32, ld, j0, nc, k0, kc int) {
	if g.transB { // b (N, K): copy rows
		K := g.K
		for c := 0; c < nc; c++ {
			copy(dst[c*ld:c*ld+kc], g.b[(j0+c)*K+k0:])
		}
		return
	}
	N := g.N // b (K, N): gather columns
	for k := 0; k < kc; k++ {
		src := g.b[(k0+k)*N+j0 : (k0+k)*N+j0+nc]
		for c, v := range src {
			dst[c*ld+k] = v
		}
	}
}

// biasTask adds bias to every row of out (BiasForward).
type biasTask struct {
	out, bias []float32
	OC        int
}

var biasTasks taskPool[biasTask]

// BiasForward: out (N,OC) += bias (OC) on every row.
func (o *Ops) BiasForward(out, bias kernels.Buffer, N, OC int) {
	t := biasTasks.get()
	*t = biasTask{out: need("BiasForward", "out", out, N*OC), bias: need("BiasForward", "bias", bias, OC), OC: OC}
	o.parallel(N, o.grain(N, OC), t)
	biasTasks.put(t)
}

func (t *biasTask) run(lo, hi int) {
	for n := lo; n < hi; n++ {
		row := t.out[n*t.OC : (n+1)*t.OC]
		for j, b := range t.bias {
			row[j] += b
		}
	}
}

// colSumWidth is how many columns one column-sum item covers: a stack array
// of float64 accumulators that the row loop updates left to right.
const colSumWidth = 64

// biasBackTask sums dout's columns into dbias; items are column groups so
// that every column still sums its rows in order 0..N-1.
type biasBackTask struct {
	dbias, dout []float32
	N, OC       int
}

var biasBackTasks taskPool[biasBackTask]

// BiasBackward: dbias (OC) += column sums of dout (N,OC), summed in float64
// row by row so the result is independent of the worker count.
func (o *Ops) BiasBackward(dbias, dout kernels.Buffer, N, OC int) {
	t := biasBackTasks.get()
	*t = biasBackTask{dbias: need("BiasBackward", "dbias", dbias, OC), dout: need("BiasBackward", "dout", dout, N*OC), N: N, OC: OC}
	groups := (OC + colSumWidth - 1) / colSumWidth
	o.parallel(groups, o.grain(groups, N*colSumWidth), t)
	biasBackTasks.put(t)
}

func (t *biasBackTask) run(lo, hi int) {
	for g := lo; g < hi; g++ {
		j0 := g * colSumWidth
		j1 := min(j0+colSumWidth, t.OC)
		var acc [colSumWidth]float64
		s := acc[:j1-j0]
		for n := 0; n < t.N; n++ {
			row := t.dout[n*t.OC+j0 : n*t.OC+j1]
			for j, v := range row {
				s[j] += float64(v)
			}
		}
		for j, v := range s {
			t.dbias[j0+j] += float32(v)
		}
	}
}
