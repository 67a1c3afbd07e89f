// Encoder: token + position embedding forward, and its scatter-add backward.

package cpu

import (
	"fmt"

	"baton/kernels"
)

type encoderTask struct {
	out, wte, wpe []float32
	inp           []int32
	T, C, V       int
}

var encoderTasks taskPool[encoderTask]

// EncoderForward: out (B,T,C) = wte[inp] (V,C) + wpe[t] (T,C); inp (B,T).
func (o *Ops) EncoderForward(out, inp, wte, wpe kernels.Buffer, B, T, C int) {
	t := encoderTasks.get()
	wt := Floats(wte)
	*t = encoderTask{
		out: need("EncoderForward", "out", out, B*T*C),
		inp: needInt("EncoderForward", "inp", inp, B*T),
		wte: wt,
		wpe: need("EncoderForward", "wpe", wpe, T*C),
		T:   T, C: C, V: len(wt) / max(C, 1),
	}
	o.parallel(B*T, o.grain(B*T, C), t)
	encoderTasks.put(t)
}

func (e *encoderTask) run(lo, hi int) {
	C := e.C
	for bt := lo; bt < hi; bt++ {
		ix := tokenIndex("EncoderForward", e.inp[bt], e.V)
		out := e.out[bt*C : (bt+1)*C]         // (C)
		wte := e.wte[ix*C : (ix+1)*C]         // (C)
		wpe := e.wpe[bt%e.T*C : (bt%e.T+1)*C] // (C)
		for i := range out {
			out[i] = wte[i] + wpe[i]
		}
	}
}

type encoderBackTask struct {
	dwte, dwpe, dout []float32
	inp              []int32
	T, C, V          int
	simd             *simd
}

var encoderBackTasks taskPool[encoderBackTask]

// EncoderBackward: dwte, dwpe += scatter of dout (B,T,C) by inp (B,T).
// A token that occurs twice adds into the same dwte row, so the work is split
// over column groups, never over rows: every element still receives its
// terms in the order b, t whatever the number of workers.
func (o *Ops) EncoderBackward(dwte, dwpe, dout, inp kernels.Buffer, B, T, C int) {
	t := encoderBackTasks.get()
	dwt := Floats(dwte)
	*t = encoderBackTask{
		dwte: dwt,
		dwpe: need("EncoderBackward", "dwpe", dwpe, T*C),
		dout: need("EncoderBackward", "dout", dout, B*T*C),
		inp:  needInt("EncoderBackward", "inp", inp, B*T),
		T:    T, C: C, V: len(dwt) / max(C, 1),
		simd: o.simd,
	}
	groups := (C + colSumWidth - 1) / colSumWidth
	o.parallel(groups, o.grain(groups, 2*B*T*colSumWidth), t)
	encoderBackTasks.put(t)
}

func (e *encoderBackTask) run(lo, hi int) {
	C := e.C
	c0, c1 := lo*colSumWidth, min(hi*colSumWidth, C)
	for bt, id := range e.inp {
		ix := tokenIndex("EncoderBackward", id, e.V)
		d := e.dout[bt*C+c0 : bt*C+c1]          // (c1-c0)
		dw := e.dwte[ix*C+c0 : ix*C+c1]         // (c1-c0)
		dp := e.dwpe[bt%e.T*C+c0 : bt%e.T*C+c1] // (c1-c0)
		if e.simd != nil {
			e.simd.addTo2(dw, dp, d)
			continue
		}
		for i, g := range d {
			dw[i] += g
			dp[i] += g
		}
	}
}

// tokenIndex checks a token id against the vocabulary: an id out of range
// is a data bug that would otherwise read or corrupt a neighbouring row.
func tokenIndex(op string, id int32, V int) int {
	if id < 0 || int(id) >= V {
		panic(fmt.Sprintf("cpu: %s: token id %d outside the vocabulary [0, %d)", op, id, V))
	}
	return int(id)
}
