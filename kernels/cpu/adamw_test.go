package cpu

import (
	"math"
	"testing"

	"baton/kernels"
)

// TestAdamW runs three steps against a scalar float64 transcription of the
// update rule.
func TestAdamW(t *testing.T) {
	r := newRand(60)
	o := New()
	N := 37
	hp := kernels.AdamParams{LR: 1e-2, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}
	const gradScale = 0.5
	params, m, v := randF32(r, N), make(F32, N), make(F32, N)
	p64, m64, v64 := f64(params), make([]float64, N), make([]float64, N)
	b1, b2 := float64(hp.Beta1), float64(hp.Beta2)
	for step := 1; step <= 3; step++ {
		grads := randF32(r, N)
		o.AdamW(params, grads, m, v, N, hp, gradScale, step)
		for i := range p64 {
			g := float64(grads[i]) * gradScale
			m64[i] = b1*m64[i] + (1-b1)*g
			v64[i] = b2*v64[i] + (1-b2)*g*g
			mhat := m64[i] / (1 - math.Pow(b1, float64(step)))
			vhat := v64[i] / (1 - math.Pow(b2, float64(step)))
			p64[i] -= float64(hp.LR) * (mhat/(math.Sqrt(vhat)+float64(hp.Eps)) + float64(hp.WeightDecay)*p64[i])
		}
		checkClose(t, "params", params, p64, fwdTol)
		checkClose(t, "m", m, m64, fwdTol)
		checkClose(t, "v", v, v64, fwdTol)
	}
}

func TestSumSquares(t *testing.T) {
	r := newRand(61)
	o := New()
	for _, n := range []int{0, 1, 1000, 3*sumSqChunk + 17, sumSqMaxBlocks*sumSqChunk + 5} {
		x := make(F32, n)
		for i := range x {
			x[i] = r.Float32()*2 - 1
		}
		// Neumaier-compensated: exact to ~1 ulp, so the blocked sum's own
		// error (about sqrt(block)·eps) is what the tolerance measures.
		var want, comp float64
		for _, v := range x {
			sq := float64(v) * float64(v)
			s := want + sq
			if math.Abs(want) >= sq {
				comp += (want - s) + sq
			} else {
				comp += (sq - s) + want
			}
			want = s
		}
		want += comp
		got := o.SumSquares(x)
		if math.Abs(got-want) > 1e-13*max(want, 1) {
			t.Errorf("n=%d: SumSquares = %v, want %v", n, got, want)
		}
	}
}
