// Single-row GEMM (one token's matmuls when sampling): b read once, in place, to the packed path's bits.

package cpu

// gemvCols is how many columns of c one item of a gemv with b untransposed
// takes: it streams those columns of all K rows of b, their sums in eight
// registers (gemvRow64). 64 floats (256 bytes, four cache lines) keep a
// row's run long for the prefetcher and still cut GPT-2's narrowest output
// (768) into 12 items for the workers; a last item of fewer columns sums
// them in memory (fmaInto), to the same bits. With b transposed an item is
// 8 columns of c, 8 rows of b (gemvT8).
const gemvCols = 64

// gemvTask is one single-row Gemm; its items are groups of columns of c.
type gemvTask struct{ gemmArgs }

var gemvTasks taskPool[gemvTask]

// gemvVec: c (1,N) = alpha * a (1,K) @ op(b) + beta * c, a transposed or
// not (one row or one column: the same K values). The packed path copies
// each panel of b before reading it, three passes over b's bytes where a
// single row needs one, and a single row's product is all bytes: GPT-2
// 124M's decoding step took 46 ms through it. Its arithmetic is the packed
// path's (packedElem): each element sums K in blocks of kcBlock, from zero
// with one FMA per term in k order, and adds each block to c with one
// more, so a row alone gets the bits of the same row in a batch.
func (o *Ops) gemvVec(g gemmArgs) {
	t := gemvTasks.get()
	t.gemmArgs = g
	if g.transB {
		groups := g.N / 8
		o.parallel(groups, o.grain(groups, 2*g.K*8), t)
		if n0 := 8 * groups; n0 < g.N { // the last columns: packed, to the same bits
			tail := g
			tail.N, tail.b, tail.c = g.N-n0, g.b[n0*g.K:], g.c[n0:]
			o.gemmPacked(tail)
		}
	} else {
		items := (g.N + gemvCols - 1) / gemvCols
		o.parallel(items, o.grain(items, 2*g.K*gemvCols), t)
	}
	gemvTasks.put(t)
}

func (t *gemvTask) run(lo, hi int) {
	g := &t.gemmArgs
	width := gemvCols
	if g.transB {
		width = 8
	}
	from, to := lo*width, min(hi*width, g.N)
	for j0 := from; j0 < to; j0 += width {
		j1 := min(j0+width, to)
		c := g.c[j0:j1]
		if g.beta != 0 && g.beta != 1 {
			for j := range c {
				c[j] *= g.beta
			}
		}
		var block [gemvCols]float32
		acc := block[:len(c)]
		for k0 := 0; k0 < g.K; k0 += kcBlock {
			k1 := min(k0+kcBlock, g.K)
			g.blockSums(acc, j0, k0, k1)
			if k0 == 0 && g.beta == 0 {
				for j, s := range acc {
					c[j] = g.alpha * s
				}
			} else {
				fmaInto(c, acc, g.alpha)
			}
		}
	}
}

// blockSums sets acc[j] = a[k0:k1] · op(b)[k0:k1, j0+j], from zero with one
// FMA per term in k order, for the len(acc) columns from j0.
func (g *gemmArgs) blockSums(acc []float32, j0, k0, k1 int) {
	switch {
	case g.transB: // 8 columns: 8 rows of b
		gemvT8(&acc[0], &g.a[k0], &g.b[j0*g.K+k0], g.K, k1-k0)
	case len(acc) == gemvCols:
		gemvRow64(&acc[0], &g.a[k0], &g.b[k0*g.N+j0], g.N, k1-k0)
	default:
		clear(acc)
		for k := k0; k < k1; k++ {
			fmaInto(acc, g.b[k*g.N+j0:k*g.N+j0+len(acc)], g.a[k]) // acc += a[k] * b[k, j0:]
		}
	}
}

// fmaInto: dst[i] = a*x[i] + dst[i], rounded once, over len(dst) (x may be
// longer): axpyF32 eight at a time, the tail through it too, padded.
func fmaInto(dst, x []float32, a float32) {
	x = x[:len(dst)]
	n := len(dst) &^ 7
	if n > 0 {
		axpyF32(&dst[0], &x[0], a, n)
	}
	if n < len(dst) {
		var d, v [8]float32
		copy(d[:], dst[n:])
		copy(v[:], x[n:])
		axpyF32(&d[0], &v[0], a, 8)
		copy(dst[n:], d[:])
	}
}
