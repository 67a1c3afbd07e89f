// Packing: op(a) and op(b) into the k-major panels the micro-kernel reads, absorbing the transposes.

package cpu

// packA writes panel p of the block's row panels: rows i0+p*mr.. of op(a)
// over the span K [k0, k0+kc), as (kc, mr), the mr values of one k side by
// side, zero past the block's rows. When a is not transposed only the
// last, partial panel is packed (p is 0), into the edge buffer.
func (t *packedTask) packA(p int) {
	kc := min(t.span, t.K-t.k0)
	if t.transA { // a (K, M): each k's values are contiguous
		dst := t.bufs.a[p*mr*kc:][:mr*kc]
		i := t.i0 + p*mr
		if rows := t.i0 + t.mc - i; rows < mr {
			t.packPartial(dst, rows, mr, func(r, k int) float32 { return t.a[(t.k0+k)*t.lda+i+r] })
			return
		}
		packPanel6(&dst[0], &t.a[t.k0*t.lda+i], kc, t.lda)
		return
	}
	i := t.i0 + t.mc/mr*mr // a (M, K): the partial panel's rows
	t.packPartial(t.bufs.edge[:mr*kc], t.mc%mr, mr, func(r, k int) float32 { return t.a[(i+r)*t.lda+t.k0+k] })
}

// packB writes panel q: columns j0+q*nr.. of op(b) over the span K [k0,
// k0+kc), as (kc, nr), zero past the block's columns.
func (t *packedTask) packB(q int) {
	kc, nr := min(t.span, t.K-t.k0), t.k.nr
	dst := t.bufs.b[q*nr*kc:][:nr*kc]
	j := t.j0 + q*nr
	cols := min(nr, t.j0+t.nc-j)
	switch {
	case cols < nr && t.transB:
		t.packPartial(dst, cols, nr, func(c, k int) float32 { return t.b[(j+c)*t.ldb+t.k0+k] })
	case cols < nr:
		t.packPartial(dst, cols, nr, func(c, k int) float32 { return t.b[(t.k0+k)*t.ldb+j+c] })
	case !t.transB: // b (K, N): each k's values are contiguous
		t.k.packB(&dst[0], &t.b[t.k0*t.ldb+j], kc, t.ldb)
	default: // b (N, K): row c of b becomes column c of the panel
		k8 := kc &^ 7
		if k8 > 0 {
			t.k.packBT(&dst[0], &t.b[j*t.ldb+t.k0], k8, t.ldb)
		}
		for c := 0; c < nr; c++ {
			src := t.b[(j+c)*t.ldb+t.k0:][:kc]
			for k := k8; k < kc; k++ {
				dst[k*nr+c] = src[k]
			}
		}
	}
}

// packPartial fills a panel dst (kc, width) whose first n < width lanes
// are at(lane, k) and the rest zero: the edges of the block, where speed
// does not matter.
func (t *packedTask) packPartial(dst []float32, n, width int, at func(lane, k int) float32) {
	for k := 0; k < len(dst)/width; k++ {
		for l := 0; l < width; l++ {
			v := float32(0)
			if l < n {
				v = at(l, k)
			}
			dst[k*width+l] = v
		}
	}
}
