// The embedding lookup: a token outside the vocabulary panics, and its backward gives the generic bits on every instruction set.

package cpu

import "testing"

func TestEncoderBadToken(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a token id outside the vocabulary did not panic")
		}
	}()
	o := New()
	o.EncoderForward(make(F32, 2), I32{4}, make(F32, 8), make(F32, 2), 1, 1, 2) // V = 4
}

// TestEncoderBackwardISAs: the scatter is additions alone, so every
// instruction set gives the generic bits, repeated tokens and C % 8 != 0
// included.
func TestEncoderBackwardISAs(t *testing.T) {
	const B, T, C, V = 3, 5, 75, 4 // V small: tokens repeat
	r := newRand(87)
	dout, inp := randF32(r, B*T*C), randTokens(r, B*T, V)
	dwte0, dwpe0 := randF32(r, V*C), randF32(r, T*C)
	var want []F32
	for _, isa := range hostISAs() {
		o := newOps(4, isa)
		dwte, dwpe := cloneF32(dwte0), cloneF32(dwpe0)
		o.EncoderBackward(dwte, dwpe, dout, inp, B, T, C)
		o.EncoderBackward(dwte, dwpe, dout, inp, B, T, C) // accumulates
		if want == nil {
			want = []F32{dwte, dwpe}
			continue
		}
		sameBits(t, isa.String()+" dwte", dwte, want[0])
		sameBits(t, isa.String()+" dwpe", dwpe, want[1])
	}
}
