// The float32 exp and tanh against float64's, within their stated ulps.

package cpu

import (
	"math"
	"testing"
)

// ulpErr is |got - want| in units of float32 spacing at want.
func ulpErr(got float32, want float64) float64 {
	w := float32(want)
	ulp := float64(math.Nextafter32(float32(math.Abs(float64(w))), float32(math.Inf(1))) - float32(math.Abs(float64(w))))
	return math.Abs(float64(got)-want) / ulp
}

func TestExpf(t *testing.T) {
	var worst float64
	for i := 0; i <= 200000; i++ {
		x := float32(-87 + 175.5*float64(i)/200000) // the whole normal range
		e := ulpErr(expf(x), math.Exp(float64(x)))
		if e > worst {
			worst = e
		}
	}
	if worst > 2 {
		t.Errorf("expf: worst error %.2f ulp, want <= 2", worst)
	}
	t.Logf("expf: worst error %.2f ulp", worst)
	for _, c := range []struct{ x, want float32 }{
		{0, 1}, {-200, 0}, {100, float32(math.Inf(1))}, {float32(math.Inf(-1)), 0}, {float32(math.Inf(1)), float32(math.Inf(1))},
	} {
		if got := expf(c.x); got != c.want {
			t.Errorf("expf(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if got := expf(float32(math.NaN())); got == got {
		t.Errorf("expf(NaN) = %v", got)
	}
	for _, x := range []float32{88.7, 88.72, -87.3} { // 2^k at the ends of the exponent range
		if got, want := expf(x), math.Exp(float64(x)); ulpErr(got, want) > 2 {
			t.Errorf("expf(%v) = %v, want %v", x, got, want)
		}
	}
}
