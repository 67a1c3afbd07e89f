package cpu

import "testing"

func TestEncoder(t *testing.T) {
	r := newRand(10)
	o := New()
	B, T, C, V := 3, 5, 6, 4 // V < B*T: tokens repeat, so dwte rows accumulate several terms
	inp := randTokens(r, B*T, V)
	wte, wpe, R := randF32(r, V*C), randF32(r, T*C), randF32(r, B*T*C)
	wte64, wpe64, R64 := f64(wte), f64(wpe), f64(R)
	ref := func() []float64 {
		out := make([]float64, B*T*C)
		for bt, id := range inp {
			for i := 0; i < C; i++ {
				out[bt*C+i] = wte64[int(id)*C+i] + wpe64[bt%T*C+i]
			}
		}
		return out
	}
	out := make(F32, B*T*C)
	o.EncoderForward(out, inp, wte, wpe, B, T, C)
	checkClose(t, "out", out, ref(), fwdTol)

	dwte, dwpe := randF32(r, V*C), randF32(r, T*C) // gradients accumulate into these
	dwte0, dwpe0 := cloneF32(dwte), cloneF32(dwpe)
	o.EncoderBackward(dwte, dwpe, R, inp, B, T, C)
	loss := func() float64 { return dotR(ref(), R64) }
	checkClose(t, "dwte", dwte, addInto(dwte0, fdGrad(wte64, loss)), bwdTol)
	checkClose(t, "dwpe", dwpe, addInto(dwpe0, fdGrad(wpe64, loss)), bwdTol)
}

func TestEncoderBadToken(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a token id outside the vocabulary did not panic")
		}
	}()
	o := New()
	o.EncoderForward(make(F32, 2), I32{4}, make(F32, 8), make(F32, 2), 1, 1, 2) // V = 4
}
