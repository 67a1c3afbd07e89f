// The portable GELU keeps its relative accuracy far below zero, where the tanh form cancels to nothing.

package cpu

import (
	"math"
	"testing"
)

// geluRef is GELU's tanh approximation and its derivative in float64, as
// x·σ(2u) (0.5(1 + tanh u) = σ(2u)), which does not cancel where u is far
// below 0, as 1 + tanh u does even in float64.
func geluRef(x float64) (y, dy float64) {
	const k = 0.7978845608028654
	u := k * (x + 0.044715*x*x*x)
	sig := 1 / (1 + math.Exp(-2*u))
	return x * sig, sig + x*sig*(1-sig)*2*k*(1+3*0.044715*x*x)
}

// TestGeluFarBelowZero: from x = -8 to 8 the portable gelu and geluGrad
// are within 1e-5 of float64's, relative, where the value is a normal
// float32 (float32's rounding of 2|u|, up to 50 there, moves e^-2|u| by
// some 1e-6); the tanh form's error was the whole value below x = -5.
func TestGeluFarBelowZero(t *testing.T) {
	for i := 0; i <= 16000; i++ {
		x := float32(-8 + float64(i)/1000)
		y, dy := geluRef(float64(x))
		for _, c := range []struct {
			name            string
			got, want, near float64 // near: the absolute error allowed besides 1e-5 relative
		}{
			{"gelu", float64(gelu(x)), y, 0},
			// The derivative crosses zero near x = -0.75, where its two
			// terms (about 0.2 each) cancel: a few of their roundings.
			{"geluGrad", float64(geluGrad(x)), dy, 3e-8},
		} {
			if math.Abs(c.want) < 1e-30 {
				continue // below float32's normal range
			}
			if d := math.Abs(c.got - c.want); !(d <= 1e-5*math.Abs(c.want)+c.near) {
				t.Fatalf("%s(%v) = %v, float64 %v: off by %.2g", c.name, x, c.got, c.want, d)
			}
		}
	}
}
