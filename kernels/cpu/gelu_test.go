// GELU's backward written over its input gradient gives the bits of a separate output on the CPU.

package cpu

import "testing"

// TestGeluBackwardInPlace: dinp may alias dout on the CPU (gelu.go), and
// gives the same bits as a separate output. The contract does not promise
// it, so it is not in the conformance suite.
func TestGeluBackwardInPlace(t *testing.T) {
	r := newRand(40)
	o := New()
	N := 64
	x, dout := randF32(r, N), randF32(r, N)
	dinp := make(F32, N)
	o.GeluBackward(dinp, x, dout, N)
	inPlace := cloneF32(dout)
	o.GeluBackward(inPlace, x, inPlace, N)
	sameBits(t, "GeluBackward in place", inPlace, dinp)
}
