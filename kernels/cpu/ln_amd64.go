// Slice wrappers of the vector LayerNorm rows (simd_amd64.s): the first multiple of 8 in assembly, the rest of the row in Go.

package cpu

import "math"

// lnRowVec is one row of LayerNormForward: out (C) from x (C), returning
// the row's mean and rstd. The statistics are layernorm.go's (float64, two
// passes) summed over vector lanes; the rest of a row past the last
// multiple of 8 is added after them in order.
func lnRowVec(out, x, w, b []float32) (mean, rstd float32) {
	C := len(x)
	out, w, b = out[:C], w[:C], b[:C]
	n := C &^ 7
	var sum, ss float64
	if n > 0 {
		sum = rowSum(&x[0], n)
	}
	for _, v := range x[n:] {
		sum += float64(v)
	}
	m := sum / float64(C)
	if n > 0 {
		ss = rowDevSq(&x[0], n, m)
	}
	for _, v := range x[n:] {
		d := float64(v) - m
		ss += float64(d * d) // rounded, as layernorm.go's generic rows
	}
	m32 := float32(m)
	s32 := float32(1 / math.Sqrt(ss/float64(C)+lnEps))
	if n > 0 {
		lnNorm(&out[0], &x[0], &w[0], &b[0], n, m32, s32)
	}
	for i := n; i < C; i++ {
		out[i] = float32((x[i]-m32)*s32*w[i]) + b[i]
	}
	return m32, s32
}

// lnBackRowVec is one row of LayerNormBackward's dinp (layernorm.go's
// runRows), its two means summed over vector lanes.
func lnBackRowVec(di, x, d, w []float32, m, s float32) {
	C := len(x)
	di, d, w = di[:C], d[:C], w[:C]
	n := C &^ 7
	var sumD, sumDN float64
	if n > 0 {
		sumD, sumDN = lnBackSums(&x[0], &d[0], &w[0], n, m, s)
	}
	for i := n; i < C; i++ {
		dnorm := w[i] * d[i]
		sumD += float64(dnorm)
		sumDN += float64(dnorm * ((x[i] - m) * s))
	}
	meanD := float32(sumD / float64(C))
	meanDN := float32(sumDN / float64(C))
	if n > 0 {
		lnBackOut(&di[0], &x[0], &d[0], &w[0], n, m, s, meanD, meanDN)
	}
	for i := n; i < C; i++ {
		norm := (x[i] - m) * s
		di[i] += float32((float32(w[i]*d[i]) - meanD - float32(norm*meanDN)) * s)
	}
}

// lnBackColsVec is layernorm.go's runCols for one group of columns
// (len(dw) <= colSumWidth, x and d starting at the group's first column,
// rows ld floats apart): the same float32 products and float64 sums in the
// same order, so the generic bits.
func lnBackColsVec(dw, db, x, d, mean, rstd []float32, rows, ld int) {
	var accW, accB [colSumWidth]float64
	j := 0
	if rows > 0 {
		for ; j+16 <= len(dw); j += 16 {
			lnColSums16(&accW[j], &accB[j], &x[j], &d[j], &mean[0], &rstd[0], rows, ld)
		}
	}
	for r := 0; r < rows && j < len(dw); r++ {
		xr := x[r*ld+j : r*ld+len(dw)]
		dr := d[r*ld+j : r*ld+len(dw)]
		m, s := mean[r], rstd[r]
		for i, v := range xr {
			accW[j+i] += float64((v - m) * s * dr[i])
			accB[j+i] += float64(dr[i])
		}
	}
	for i := range dw {
		dw[i] += float32(accW[i])
		db[i] += float32(accB[i])
	}
}
