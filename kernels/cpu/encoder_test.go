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
