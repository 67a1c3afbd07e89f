// Slice wrappers of the vector kernels (simd_amd64.s): whole slices, with the tail run through a padded copy.

package cpu

// A tail of fewer than eight elements goes through the same vector code in
// an eight-float scratch, so every element is computed alike wherever it
// falls: a micro-batch's elements get the bits of the full batch's.

func geluForwardVec(out, x []float32) {
	x = x[:len(out)]
	n := len(x) &^ 7
	if n > 0 {
		geluForward(&out[0], &x[0], n)
	}
	if r := len(x) - n; r > 0 {
		var t [8]float32
		copy(t[:], x[n:])
		geluForward(&t[0], &t[0], 8)
		copy(out[n:], t[:r])
	}
}

func geluBackwardVec(dinp, x, dout []float32) {
	x, dout = x[:len(dinp)], dout[:len(dinp)]
	n := len(x) &^ 7
	if n > 0 {
		geluBackward(&dinp[0], &x[0], &dout[0], n)
	}
	if r := len(x) - n; r > 0 {
		var t, d [8]float32
		copy(t[:], x[n:])
		copy(d[:], dout[n:])
		geluBackward(&d[0], &t[0], &d[0], 8)
		copy(dinp[n:], d[:r])
	}
}

// adamWVec updates elements [lo, hi) of a's tensors.
func adamWVec(a *adamTask, lo, hi int) {
	var h [8 * 10]float32 // adamW's constants, in _asm/optim.go's order
	for i, c := range [10]float32{a.gradScale, a.p.Beta1, 1 - a.p.Beta1, a.p.Beta2, 1 - a.p.Beta2, a.bc1, a.bc2, a.p.LR, a.p.Eps, a.p.WeightDecay} {
		for l := 0; l < 8; l++ {
			h[8*i+l] = c
		}
	}
	p, g, m, v := a.params[lo:hi], a.grads[lo:hi], a.m[lo:hi], a.v[lo:hi]
	n := len(p) &^ 7
	if n > 0 {
		adamW(&p[0], &g[0], &m[0], &v[0], n, &h)
	}
	if r := len(p) - n; r > 0 {
		var tp, tg, tm, tv [8]float32
		copy(tp[:], p[n:])
		copy(tg[:], g[n:])
		copy(tm[:], m[n:])
		copy(tv[:], v[n:])
		adamW(&tp[0], &tg[0], &tm[0], &tv[0], 8, &h)
		copy(p[n:], tp[:r])
		copy(m[n:], tm[:r])
		copy(v[n:], tv[:r])
	}
}

// sumSquaresVec: the vector sum of the first len(x)&^15 squares, then the
// rest in order.
func sumSquaresVec(x []float32) float64 {
	n := len(x) &^ 15
	var s float64
	if n > 0 {
		s = sumSquares(&x[0], n)
	}
	for _, v := range x[n:] {
		s += float64(v) * float64(v)
	}
	return s
}

// addColSumsVec is addColSums (bias.go) 32 columns at a time: the same
// float64 additions in the same order, so the same bits.
func addColSumsVec(dst, src []float32, rows, ld int) {
	var acc [colSumWidth]float64
	j := 0
	for ; j+32 <= len(dst); j += 32 {
		colSums32(&acc[j], &src[j], rows, ld)
	}
	for r := 0; r < rows; r++ {
		row := src[r*ld+j : r*ld+len(dst)]
		for i, v := range row {
			acc[j+i] += float64(v)
		}
	}
	for i := range dst {
		dst[i] += float32(acc[i])
	}
}

// addSlices: dst = a + b over len(dst), the tail in Go (an add is an add:
// the bits are the generic loop's).
func addSlices(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	n := len(dst) &^ 7
	if n > 0 {
		addVec(&dst[0], &a[0], &b[0], n)
	}
	for i := n; i < len(dst); i++ {
		dst[i] = a[i] + b[i]
	}
}

// maxOf returns the largest element of x (len(x) >= 1), eight at a time.
func maxOf(x []float32) float32 {
	n := len(x) &^ 7
	m := x[0]
	if n > 0 {
		m = rowMax(&x[0], n)
	}
	for _, v := range x[n:] {
		m = max(m, v)
	}
	return m
}

// addTo2Vec: a += x, then b += x, over len(x), the tail in Go (the generic
// loop's bits). a may be b.
func addTo2Vec(a, b, x []float32) {
	a, b = a[:len(x)], b[:len(x)]
	n := len(x) &^ 7
	if n > 0 {
		addTo2(&a[0], &b[0], &x[0], n)
	}
	for i := n; i < len(x); i++ {
		a[i] += x[i]
		b[i] += x[i]
	}
}

// dotVec returns x·y (len(y) >= len(x)): dotF32 over the first len(x)&^7
// terms, then the rest added in order.
func dotVec(x, y []float32) float32 {
	y = y[:len(x)]
	n := len(x) &^ 7
	var s float32
	if n > 0 {
		s = dotF32(&x[0], &y[0], n)
	}
	for i := n; i < len(x); i++ {
		s += x[i] * y[i]
	}
	return s
}
