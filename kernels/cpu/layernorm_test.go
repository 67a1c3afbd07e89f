package cpu

import (
	"math"
	"testing"
)

// layerNorm64 is the float64 reference: out, mean, rstd.
func layerNorm64(inp, w, b []float64, N, C int) (out, mean, rstd []float64) {
	out, mean, rstd = make([]float64, N*C), make([]float64, N), make([]float64, N)
	for n := 0; n < N; n++ {
		x := inp[n*C : (n+1)*C]
		var m, v float64
		for _, xi := range x {
			m += xi
		}
		m /= float64(C)
		for _, xi := range x {
			v += (xi - m) * (xi - m)
		}
		s := 1 / math.Sqrt(v/float64(C)+1e-5)
		for i, xi := range x {
			out[n*C+i] = (xi-m)*s*w[i] + b[i]
		}
		mean[n], rstd[n] = m, s
	}
	return out, mean, rstd
}

func TestLayerNorm(t *testing.T) {
	r := newRand(20)
	o := New()
	N, C := 5, 7
	inp, w, b, R := randF32(r, N*C), randF32(r, C), randF32(r, C), randF32(r, N*C)
	for i := range inp {
		inp[i] = inp[i]*3 + 10 // an offset mean, where one-pass float32 variance would cancel
	}
	inp64, w64, b64, R64 := f64(inp), f64(w), f64(b), f64(R)
	out, mean, rstd := make(F32, N*C), make(F32, N), make(F32, N)
	o.LayerNormForward(out, mean, rstd, inp, w, b, N, C)
	out64, mean64, rstd64 := layerNorm64(inp64, w64, b64, N, C)
	checkClose(t, "out", out, out64, fwdTol)
	checkClose(t, "mean", mean, mean64, fwdTol)
	checkClose(t, "rstd", rstd, rstd64, fwdTol)

	dinp, dw, db := randF32(r, N*C), randF32(r, C), randF32(r, C) // all three accumulate
	dinp0, dw0, db0 := cloneF32(dinp), cloneF32(dw), cloneF32(db)
	o.LayerNormBackward(dinp, dw, db, R, inp, w, mean, rstd, N, C)
	loss := func() float64 {
		out, _, _ := layerNorm64(inp64, w64, b64, N, C)
		return dotR(out, R64)
	}
	checkClose(t, "dinp", dinp, addInto(dinp0, fdGrad(inp64, loss)), bwdTol)
	checkClose(t, "dw", dw, addInto(dw0, fdGrad(w64, loss)), bwdTol)
	checkClose(t, "db", db, addInto(db0, fdGrad(b64, loss)), bwdTol)
}
