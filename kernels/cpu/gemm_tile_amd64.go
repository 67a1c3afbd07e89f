// Packed GEMM tiles: one K block of a tile of c through the micro-kernel, edge register blocks through a scratch tile.

package cpu

// tile adds one K block's product, K [k0+kb, k0+kb+kc), to c over block
// rows [r0, r1) and columns [c0, c1). The first K block of the call also
// applies beta: it overwrites c when beta is 0 (c is never read) and scales
// it first otherwise.
func (t *packedTask) tile(r0, r1, c0, c1, kb, kc int) {
	N, kn, nr := t.ldc, min(t.span, t.K-t.k0), t.k.nr
	first := t.k0+kb == 0
	accumulate := !first || t.beta != 0
	if first && t.beta != 0 && t.beta != 1 {
		for i := t.i0 + r0; i < t.i0+r1; i++ {
			scaleC(t.c[i*N+t.j0+c0:i*N+t.j0+c1], t.beta)
		}
	}
	for jr := c0; jr < c1; jr += nr {
		for ir := r0; ir < r1; ir += mr {
			ci := (t.i0+ir)*N + t.j0 + jr
			m, n := min(mr, t.mc-ir), min(nr, t.nc-jr)
			switch ks, ke := t.kRange(ir, jr, kb, kc); {
			case ks < ke:
				ap, rs, cs := t.rowPanel(ir, kn, ks)
				bp := &t.bufs.b[jr*kn+ks*nr] // panel jr/nr: (kn, nr), from k0+ks
				if m == mr && n == nr {
					t.k.micro(ke-ks, ap, rs, cs, bp, &t.c[ci], N, t.alpha, accumulate)
				} else {
					t.edge(ke-ks, ap, rs, cs, bp, ci, m, n, accumulate)
				}
			case !accumulate && t.tri == upperA: // no terms, but c must still be overwritten
				for r := 0; r < m; r++ {
					clear(t.c[ci+r*N : ci+r*N+n])
				}
			}
		}
	}
}

// rowPanel locates op(a)'s rows [ir, ir+mr) of the block from offset ks
// of the packed span (kn long) for the micro-kernel, with its row and
// column strides: a packed panel, or the rows in place when a is not
// transposed.
func (t *packedTask) rowPanel(ir, kn, ks int) (a *float32, rs, cs int) {
	switch {
	case t.transA:
		return &t.bufs.a[ir*kn+ks*mr], 1, mr
	case ir+mr <= t.mc:
		return &t.a[(t.i0+ir)*t.lda+t.k0+ks], t.lda, 1
	}
	return &t.bufs.edge[ks*mr], 1, mr
}

// edgeTile is a scratch register block of the widest kernel.
type edgeTile [mr * nrMax]float32

// edgeTiles holds the scratch of edge. It cannot live on the stack: the
// micro-kernel is called through a func value (gemm_kernel_amd64.go), so
// escape analysis would move it to the heap at every call.
var edgeTiles freeList[edgeTile]

// edge runs the micro-kernel on an m x n corner of c (m <= mr, n <= nr)
// through a full-size scratch tile, so it rounds exactly as a full tile.
func (t *packedTask) edge(kc int, ap *float32, rs, cs int, bp *float32, ci, m, n int, accumulate bool) {
	tile := edgeTiles.get()
	defer edgeTiles.put(tile)
	N, nr := t.ldc, t.k.nr
	s := tile[:mr*nr]
	if accumulate {
		for r := 0; r < m; r++ {
			copy(s[r*nr:r*nr+n], t.c[ci+r*N:])
		}
	}
	t.k.micro(kc, ap, rs, cs, bp, &s[0], nr, t.alpha, accumulate)
	for r := 0; r < m; r++ {
		copy(t.c[ci+r*N:ci+r*N+n], s[r*nr:])
	}
}
