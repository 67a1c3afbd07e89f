package cpu

import (
	"math"
	"testing"
)

// crossEntropy64 returns the per-row losses -log softmax(logits)[target].
func crossEntropy64(logits []float64, targets []int32, N, V int) []float64 {
	losses := make([]float64, N)
	for n := 0; n < N; n++ {
		x := logits[n*V : (n+1)*V]
		m := math.Inf(-1)
		for _, v := range x {
			m = max(m, v)
		}
		var sum float64
		for _, v := range x {
			sum += math.Exp(v - m)
		}
		losses[n] = m + math.Log(sum) - x[targets[n]]
	}
	return losses
}

func TestCrossEntropy(t *testing.T) {
	r := newRand(50)
	o := New()
	N, V := 6, 11
	logits := randF32(r, N*V)
	for i := range logits {
		logits[i] *= 4
	}
	logits[3] = 80 // exp(80) overflows float32: the max must be subtracted
	targets := randTokens(r, N, V)
	logits64 := f64(logits)

	losses, dlogits := make(F32, N), make(F32, N*V)
	o.CrossEntropyForwardBackward(losses, dlogits, logits, targets, N, V, 1/float32(N))
	checkClose(t, "losses", losses, crossEntropy64(logits64, targets, N, V), fwdTol)
	meanLoss := func() float64 {
		var s float64
		for _, l := range crossEntropy64(logits64, targets, N, V) {
			s += l
		}
		return s / float64(N)
	}
	checkClose(t, "dlogits", dlogits, fdGrad(logits64, meanLoss), bwdTol)

	inPlace, losses2 := cloneF32(logits), make(F32, N) // dlogits aliasing logits
	o.CrossEntropyForwardBackward(losses2, inPlace, inPlace, targets, N, V, 1/float32(N))
	sameBits(t, "in-place dlogits", inPlace, dlogits)
	sameBits(t, "in-place losses", losses2, losses)
}
