// Cross-entropy rows on the vector exp (simd_amd64.s): the max and the exponentials eight at a time.

package cpu

import "math"

// ceRowVec is one row of CrossEntropyForwardBackward (crossentropy.go):
// d (V) = (softmax(x) - onehot(ix)) * dscale, returning the row's loss. d
// may be x. The denominator is summed in float32 over eight lanes, then the
// rest of the row (through a copy padded with -Inf, whose exponentials are
// zero), so its rounding depends on V alone.
func ceRowVec(d, x []float32, ix int, dscale float32) float32 {
	V := len(x)
	d = d[:V]
	xt := x[ix]
	m := maxOf(x)
	if &d[0] != &x[0] {
		copy(d, x)
	}
	n := V &^ 7
	var sum float32
	if n > 0 {
		sum = expShift(&d[0], n, 1, m)
	}
	if r := V - n; r > 0 {
		inf := float32(math.Inf(-1))
		t := [8]float32{inf, inf, inf, inf, inf, inf, inf, inf}
		copy(t[:], d[n:])
		sum += expShift(&t[0], 8, 1, m)
		copy(d[n:], t[:r])
	}
	s := (1 / sum) * dscale
	for i := range d {
		d[i] *= s
	}
	d[ix] -= dscale
	return float32(math.Log(float64(sum)) - float64(xt-m))
}
