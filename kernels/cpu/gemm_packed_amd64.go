// Packed GEMM: the blocking and the two parallel phases around a 6 x nr micro-kernel (simd_amd64.s; nr is 16 or 32, gemm_kernel_amd64.go).

package cpu

// The loops follow Goto and van de Geijn. For each block of ncBlock
// columns, of a span of K and of mcBlock rows, phase one packs op(b)'s
// columns into panels of nr (span, nr), once per (column block, span) and
// shared by every row block and worker, and op(a)'s rows into panels of mr
// (span, mr) when a is transposed; phase two multiplies tiles of c, one
// parallel item each, looping over K blocks of kcBlock, then B panels, then
// A panels: a B panel's block (16 KiB at nr = 16, 32 KiB at nr = 32) sits
// in L1 while the tile's A rows stream from L2. The span is all of K when the packed panels fit in
// kSpanMax floats (so a tile's c stays in cache across the K blocks and a
// call costs two barriers, not two per K block), else one K block. The
// transposes of NT and TN cost nothing beyond the packing copy. When a is
// not transposed (NN, NT) the micro-kernel reads its rows in place, six
// broadcasts from six rows, and only a last partial row panel is packed:
// that saves a copy of A per column block, which cost a fifth of the time
// for the model's N = 128 layers.
//
// Determinism: an element of C takes its K blocks in order (the workers
// only ever split C), and within a block the micro-kernel sums k in order
// with one FMA per term, starting from zero; the result is added to C by
// one more FMA. Nothing depends on M, the tiles, the span, the worker
// count, the operands' alignment or whether A was packed: an edge tile runs
// the same kernel on a zero-padded panel, through a scratch tile.
const (
	mr      = 6    // rows of the micro-kernel's register block (its columns are the kernel's nr)
	kcBlock = 256  // K per micro-kernel call: a B panel's block is (256, nr)
	mcBlock = 1536 // rows packed at a time
	ncBlock = 4096 // columns packed at a time
)

// kSpanMax is the floats of packed panels (4 MiB) up to which a whole K is
// packed at once; a variable so that tests can take both paths.
var kSpanMax = 1 << 20

// packBufs holds one call's packed panels; a free list keeps them between
// calls so that Gemm allocates nothing in steady state.
type packBufs struct {
	a    []float32 // (ceil(mc/mr), span, mr): op(a)'s panels, when a is transposed
	b    []float32 // (ceil(nc/nr), span, nr): op(b)'s panels
	edge []float32 // (span, mr): op(a)'s last, partial panel, when a is not transposed
}

var packBufsFree freeList[packBufs]

// packedTask is one Gemm call and the block in flight.
type packedTask struct {
	gemmArgs
	lda, ldb, ldc  int // row lengths of a, b and c as stored
	bufs           *packBufs
	i0, mc, panelA int // rows [i0, i0+mc) of op(a); panelA panels to pack
	j0, nc, panelB int // columns [j0, j0+nc) of op(b); panelB panels to pack, 0 when packed
	k0, span       int // K [k0, k0+span), packed
	tm, tn         int // a tile's rows and columns
	tilesN         int
	tri            triangle
	k              *packedKernel
}

var packedTasks taskPool[packedTask]

// packPhase and computePhase give packedTask the run methods of its phases.
type packPhase struct{ *packedTask }
type computePhase struct{ *packedTask }

func (o *Ops) gemmPacked(g gemmArgs) {
	lda, ldb := g.K, g.N
	if g.transA {
		lda = g.M
	}
	if g.transB {
		ldb = g.K
	}
	o.gemmStrided(g, lda, ldb, g.N, full)
}

// gemmStrided is gemmPacked on matrices stored inside wider row-major
// arrays: a's rows are lda floats apart, b's ldb and c's ldc (attention
// multiplies one head's columns of qkv this way), skipping what tri says
// is zero or unwanted.
func (o *Ops) gemmStrided(g gemmArgs, lda, ldb, ldc int, tri triangle) {
	t := packedTasks.get()
	t.gemmArgs = g
	t.lda, t.ldb, t.ldc, t.tri = lda, ldb, ldc, tri
	t.k = packedFor(o.isa)
	nr := t.k.nr
	mcMax, ncMax := roundUp(min(g.M, mcBlock), mr), roundUp(min(g.N, ncBlock), nr)
	t.span = kcBlock
	if g.transA && max(mcMax, ncMax)*g.K <= kSpanMax || !g.transA && ncMax*g.K <= kSpanMax {
		t.span = g.K
	}
	spanMax := min(t.span, g.K)
	t.bufs = packBufsFree.get()
	if g.transA {
		t.bufs.a = grow(t.bufs.a, mcMax*spanMax)
	}
	t.bufs.b = grow(t.bufs.b, ncMax*spanMax)
	t.bufs.edge = grow(t.bufs.edge, mr*spanMax)
	t.tm, t.tn = o.tileShape(min(g.M, mcBlock), min(g.N, ncBlock), nr)
	for j0 := 0; j0 < g.N; j0 += ncBlock {
		t.j0, t.nc = j0, min(ncBlock, g.N-j0)
		t.tilesN = (t.nc + t.tn - 1) / t.tn
		for k0 := 0; k0 < g.K; k0 += t.span {
			t.k0 = k0
			t.panelB = (t.nc + nr - 1) / nr
			for i0 := 0; i0 < g.M; i0 += mcBlock {
				o.block(t, i0)
			}
		}
	}
	packBufsFree.put(t.bufs)
	packedTasks.put(t)
}

// block packs and multiplies rows [i0, i0+mcBlock) of the current columns
// and span of K.
func (o *Ops) block(t *packedTask, i0 int) {
	kn := min(t.span, t.K-t.k0)
	t.i0, t.mc = i0, min(mcBlock, t.M-i0)
	t.panelA = (t.mc + mr - 1) / mr
	if !t.transA {
		t.panelA = min(t.mc%mr, 1) // the partial panel only
	}
	n := t.panelA + t.panelB
	o.parallel(n, o.grain(n, 4*t.k.nr*kn), packPhase{t})
	t.panelB = 0
	tiles := (t.mc + t.tm - 1) / t.tm * t.tilesN
	cost := 2 * t.tm * t.tn * kn
	o.parallel(tiles, (minChunkCost+cost-1)/cost, computePhase{t})
}

// tileShape picks a tile of 8 x 8 register blocks of mr x nr (48 x 128
// at nr = 16) unless that gives fewer than four tiles per worker, then
// halves it, down to 2 x 2: small products need the items to balance the
// workers. The tiling never changes a result.
func (o *Ops) tileShape(M, N, nr int) (tm, tn int) {
	tm, tn = 8*mr, 8*nr
	for ((M+tm-1)/tm)*((N+tn-1)/tn) < 4*o.workers && tm*tn > 4*mr*nr {
		if tm/mr >= tn/nr {
			tm /= 2
		} else {
			tn /= 2
		}
	}
	return tm, tn
}

func roundUp(n, m int) int { return (n + m - 1) / m * m }

// run packs panels: items below panelA are A panels, the rest B panels.
func (t packPhase) run(lo, hi int) {
	for p := lo; p < hi; p++ {
		if p < t.panelA {
			t.packA(p)
		} else {
			t.packB(p - t.panelA)
		}
	}
}

// run multiplies tiles, numbered row-major over the block, each over the
// span's K blocks in order.
func (t computePhase) run(lo, hi int) {
	kn := min(t.span, t.K-t.k0)
	for tile := lo; tile < hi; tile++ {
		r0 := tile / t.tilesN * t.tm
		c0 := tile % t.tilesN * t.tn
		for kb := 0; kb < kn; kb += kcBlock {
			t.tile(r0, min(r0+t.tm, t.mc), c0, min(c0+t.tn, t.nc), kb, min(kcBlock, kn-kb))
		}
	}
}
