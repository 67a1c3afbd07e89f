package cpu

import (
	"math"
	"testing"
)

func gelu64(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
}

func TestGelu(t *testing.T) {
	r := newRand(40)
	o := New()
	N := 64
	x := randF32(r, N)
	for i := range x {
		x[i] *= 3 // reaches the tails, where tanh saturates
	}
	x[0], x[1], x[2] = 0, 12, -12
	R := randF32(r, N)
	x64, R64 := f64(x), f64(R)
	ref := func() []float64 {
		out := make([]float64, N)
		for i, v := range x64 {
			out[i] = gelu64(v)
		}
		return out
	}
	out := make(F32, N)
	o.GeluForward(out, x, N)
	checkClose(t, "GeluForward", out, ref(), fwdTol)

	dinp := make(F32, N)
	o.GeluBackward(dinp, x, R, N)
	checkClose(t, "GeluBackward", dinp, fdGrad(x64, func() float64 { return dotR(ref(), R64) }), bwdTol)

	inPlace := cloneF32(R) // dinp aliasing dout
	o.GeluBackward(inPlace, x, inPlace, N)
	sameBits(t, "GeluBackward in place", inPlace, dinp)
}

func TestResidual(t *testing.T) {
	r := newRand(41)
	o := New()
	a, b := randF32(r, 33), randF32(r, 33)
	out := make(F32, 33)
	o.ResidualForward(out, a, b, 33)
	want := f64(a)
	for i, v := range b {
		want[i] += float64(v)
	}
	checkClose(t, "ResidualForward", out, want, fwdTol)
}
