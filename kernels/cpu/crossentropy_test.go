// The classifier's dlogits written over the logits give the bits of a separate output on the CPU.

package cpu

import "testing"

// TestCrossEntropyInPlaceBits: with dlogits aliasing logits, the CPU gives
// the very bits of a separate output (the suite checks aliasing within its
// tolerance only).
func TestCrossEntropyInPlaceBits(t *testing.T) {
	r := newRand(50)
	o := New()
	N, V := 6, 11
	logits := randF32(r, N*V)
	logits[3] = 80
	targets := randTokens(r, N, V)
	losses, dlogits := make(F32, N), make(F32, N*V)
	o.CrossEntropyForwardBackward(losses, dlogits, logits, targets, N, V, 1/float32(N))
	inPlace, losses2 := cloneF32(logits), make(F32, N)
	o.CrossEntropyForwardBackward(losses2, inPlace, inPlace, targets, N, V, 1/float32(N))
	sameBits(t, "in-place dlogits", inPlace, dlogits)
	sameBits(t, "in-place losses", losses2, losses)
}
