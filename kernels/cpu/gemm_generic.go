// Generic GEMM: the portable path, tiling and packing around gonum's serial kernel.

package cpu

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// gemmGeneric packs tiles of op(a) and op(b) and hands each tile to gonum's
// serial Sgemm in its (NoTrans, Trans) form, whose inner loop is gonum's SSE
// dot product (pure Go off amd64). It is the fallback where the packed path
// has no micro-kernel, and BATON_CPU=generic forces it. It beat both a
// pure-Go kernel with a 4x2 register tile (Go does not vectorise, and spills
// beyond about eight accumulators) and gonum's Sgemm called directly (whose
// NN and TN cases use an axpy kernel, and which starts a goroutine per
// 64x64 block); BenchmarkGemm keeps gonum as the rival.
//
// Packing every operand (even one already in the right layout) has two more
// reasons: the four transpose cases become one, and gonum's dot sums in an
// order that depends on the address alignment of its inputs, which packing
// into 16-byte-aligned rows fixes. Otherwise the same matrices at another
// offset (a pipeline stage's own copy of a weight) could round differently.
//
// Determinism: C is cut into tiles of genMC x genNC (one parallel item
// each) and K into blocks of genKC; each C element adds its K blocks in
// order, and each block's dot product sees the same packed layout wherever
// the element's tile is.
const (
	genMC = 64
	genNC = 64 // gonum's own block: a bigger tile would make it spawn goroutines
	genKC = 256
)

// genBufs holds one tile's packed rows: op(a) (genMC, genKC) and op(b)ᵀ
// (genNC, genKC), reused across calls so that Gemm allocates nothing.
type genBufs struct {
	a [genMC * genKC]float32
	b [genNC * genKC]float32
}

var genBufsFree freeList[genBufs]

// genericTask is one Gemm call; items are C tiles in row-major tile order.
type genericTask struct {
	gemmArgs
	tilesN int
}

var genericTasks taskPool[genericTask]

func (o *Ops) gemmGeneric(g gemmArgs) {
	t := genericTasks.get()
	t.gemmArgs = g
	tilesM := (g.M + genMC - 1) / genMC
	t.tilesN = (g.N + genNC - 1) / genNC
	tileCost := 2 * min(g.M, genMC) * min(g.N, genNC) * g.K
	o.parallel(tilesM*t.tilesN, (minChunkCost+tileCost-1)/tileCost, t)
	genericTasks.put(t)
}

func (g *genericTask) run(lo, hi int) {
	p := genBufsFree.get()
	for tile := lo; tile < hi; tile++ {
		i0 := tile / g.tilesN * genMC
		j0 := tile % g.tilesN * genNC
		g.tile(p, i0, min(genMC, g.M-i0), j0, min(genNC, g.N-j0))
	}
	genBufsFree.put(p)
}

// tile computes c[i0:i0+mc, j0:j0+nc].
func (g *genericTask) tile(p *genBufs, i0, mc, j0, nc int) {
	N := g.N
	c := g.c[i0*N+j0:]
	for i := 0; i < mc; i++ {
		scaleC(c[i*N:i*N+nc], g.beta)
	}
	for k0 := 0; k0 < g.K; k0 += genKC {
		kc := min(genKC, g.K-k0)
		ld := (kc + 3) &^ 3 // packed rows start 16-byte aligned
		ap := p.a[:mc*ld]   // (mc, ld): rows i0.. of op(a), columns k0..
		bp := p.b[:nc*ld]   // (nc, ld): columns j0.. of op(b), as rows
		g.packA(ap, ld, i0, mc, k0, kc)
		g.packB(bp, ld, j0, nc, k0, kc)
		gonum.Implementation{}.Sgemm(blas.NoTrans, blas.Trans, mc, nc, kc, g.alpha, ap, ld, bp, ld, 1, c, N)
	}
}

// packA copies op(a)[i0:i0+mc, k0:k0+kc] into dst (mc, ld).
func (g *genericTask) packA(dst []float32, ld, i0, mc, k0, kc int) {
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
func (g *genericTask) packB(dst []float32, ld, j0, nc, k0, kc int) {
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
