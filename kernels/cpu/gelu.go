// Element-wise ops: tanh-GELU forward and backward, and the residual add.

package cpu

import (
	"baton/kernels"
	"math"
)

// geluK is sqrt(2/pi), the tanh approximation's constant (as in GPT-2).
const geluK = 0.7978845608028654

// The element-wise ops read element i before writing element i, so an
// output may alias an input (GeluBackward(d, x, d) updates d in place).
// All float32, with tanhf (mathf.go); the SIMD path's GELU is a vector
// form of the same approximation (_asm/gelu.go) and its add is this add.

// eltTask is one element-wise op; items are elements.
type eltTask struct {
	kind      eltKind
	out, a, b []float32
	simd      *simd
}

type eltKind int

const (
	geluFwd eltKind = iota
	geluBwd
	residual
)

var eltTasks taskPool[eltTask]

func (o *Ops) elementwise(kind eltKind, out, a, b []float32, cost int) {
	t := eltTasks.get()
	*t = eltTask{kind: kind, out: out, a: a, b: b, simd: o.simd}
	n := len(out)
	o.parallel(n, o.grain(n, cost), t)
	eltTasks.put(t)
}

// GeluForward: out (N) = 0.5*x*(1+tanh(sqrt(2/pi)*(x+0.044715x^3))).
func (o *Ops) GeluForward(out, inp kernels.Buffer, N int) {
	o.elementwise(geluFwd, need("GeluForward", "out", out, N), need("GeluForward", "inp", inp, N), nil, 20)
}

// GeluBackward: dinp (N) = gelu'(inp) * dout; dinp may be dout.
func (o *Ops) GeluBackward(dinp, inp, dout kernels.Buffer, N int) {
	o.elementwise(geluBwd, need("GeluBackward", "dinp", dinp, N), need("GeluBackward", "inp", inp, N), need("GeluBackward", "dout", dout, N), 30)
}

// ResidualForward: out (N) = a + b.
func (o *Ops) ResidualForward(out, a, b kernels.Buffer, N int) {
	o.elementwise(residual, need("ResidualForward", "out", out, N), need("ResidualForward", "a", a, N), need("ResidualForward", "b", b, N), 1)
}

func (e *eltTask) run(lo, hi int) {
	out := e.out[lo:hi]
	a := e.a[lo:hi]
	switch {
	case e.kind == geluFwd && e.simd != nil:
		e.simd.geluForward(out, a)
	case e.kind == geluBwd && e.simd != nil:
		e.simd.geluBackward(out, a, e.b[lo:hi])
	case e.kind == residual && e.simd != nil:
		e.simd.add(out, a, e.b[lo:hi])
	case e.kind == geluFwd:
		for i, x := range a {
			out[i] = gelu(x)
		}
	case e.kind == geluBwd:
		d := e.b[lo:hi]
		for i, x := range a {
			out[i] = geluGrad(x) * d[i]
		}
	case e.kind == residual:
		b := e.b[lo:hi]
		for i, x := range a {
			out[i] = x + b[i]
		}
	}
}

// geluParts: with u = sqrt(2/pi)(x + 0.044715x³) and e = e^(-2|u|),
// 0.5(1 + tanh u) = s/(1+e), where s is 1 for u >= 0 and e below. The
// tanh form, 0.5x(1 + tanh u), cancels for u far below 0 and loses every
// digit of gelu(x) below x ≈ -5; this form keeps them, as the vector
// kernels' does (_asm/gelu.go), and e cannot overflow.
func geluParts(x float32) (s, e float32) {
	u := math.Float32bits(geluK * (x + 0.044715*x*x*x))
	e = expf(-2 * math.Float32frombits(u&^(1<<31)))
	// s chosen by u's sign bit without a branch, which GELU's inputs would
	// take at random (-0 takes e, which is 1 there).
	neg := uint32(int32(u) >> 31)
	return math.Float32frombits(math.Float32bits(e)&neg | math.Float32bits(1)&^neg), e
}

func gelu(x float32) float32 {
	s, e := geluParts(x)
	return x * s / (1 + e)
}

// geluGrad is d gelu / dx = 0.5(1+tanh u) + 0.5x(1-tanh²u)u', which is
// (s + 2x·e·u'/(1+e))/(1+e) (geluParts).
func geluGrad(x float32) float32 {
	s, e := geluParts(x)
	du := geluK * (1 + 3*0.044715*x*x)
	return (s + 2*x*e*du/(1+e)) / (1 + e)
}
