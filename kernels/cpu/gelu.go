// Element-wise ops: tanh-GELU forward and backward, and the residual add.

package cpu

import "baton/kernels"

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

func gelu(x float32) float32 {
	u := geluK * (x + 0.044715*x*x*x)
	return 0.5 * x * (1 + tanhf(u))
}

// geluGrad is d gelu / dx; sech² is taken as 1 - tanh², which cannot
// overflow the way 1/cosh² does for large |u|.
func geluGrad(x float32) float32 {
	u := geluK * (x + 0.044715*x*x*x)
	th := tanhf(u)
	du := geluK * (1 + 3*0.044715*x*x)
	return 0.5*(1+th) + 0.5*x*(1-th*th)*du
}
