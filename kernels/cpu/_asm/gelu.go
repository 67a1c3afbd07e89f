// Vector GELU: the tanh approximation's forward and backward, eight lanes at a time.

package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// With u = sqrt(2/pi)(x + 0.044715x³) and e = e^(-2|u|), tanh|u| =
// (1-e)/(1+e), so
//
//	gelu(x)  = 0.5x(1 + tanh u)            = x·s/(1+e)
//	gelu'(x) = 0.5(1+tanh u) + 0.5x(1-tanh²u)u' = (s + 2x·e·u'/(1+e))/(1+e)
//
// where s is 1 for u >= 0 and e below: no cancellation for any x, and
// e^(-2|u|) cannot overflow.
const (
	geluK = 0.7978845608028654 // sqrt(2/pi)
	geluA = 0.044715
)

// geluParts returns u's sign selector s and the denominator 1+e for x.
func geluParts(x VecVirtual) (e, s, den VecVirtual) {
	u := YMM()
	VMULPS(x, x, u)
	VMULPS(splatF("geluA", geluA), u, u)
	VADDPS(splatF("one", 1), u, u) // 1 + A x²
	VMULPS(x, u, u)
	VMULPS(splatF("geluK", geluK), u, u)
	a := YMM()
	VANDPS(splat("absMask", 0x7fffffff), u, a)
	VMULPS(splatF("minusTwo", -2), a, a)
	e = expVec(a)
	pos := YMM()
	VXORPS(pos, pos, pos)
	VCMPPS(U8(13), pos, u, pos) // u >= 0
	s = YMM()
	VBLENDVPS(pos, splatF("one", 1), e, s)
	den = YMM()
	VADDPS(splatF("one", 1), e, den)
	return e, s, den
}

func geluForward() {
	TEXT("geluForward", NOSPLIT, "func(out, x *float32, n int)")
	Pragma("noescape")
	Doc("geluForward sets out[i] = gelu(x[i]) for i < n, a multiple of 8; out may be x.")
	out := Mem{Base: Load(Param("out"), GP64())}
	x := Mem{Base: Load(Param("x"), GP64())}
	n := Load(Param("n"), GP64())
	TESTQ(n, n)
	JZ(LabelRef("done"))
	Label("loop")
	v := YMM()
	VMOVUPS(x, v)
	_, s, den := geluParts(v)
	VMULPS(s, v, v)
	VDIVPS(den, v, v)
	VMOVUPS(v, out)
	ADDQ(U8(32), x.Base)
	ADDQ(U8(32), out.Base)
	SUBQ(U8(8), n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

func geluBackward() {
	TEXT("geluBackward", NOSPLIT, "func(dinp, x, dout *float32, n int)")
	Pragma("noescape")
	Doc("geluBackward sets dinp[i] = gelu'(x[i]) * dout[i] for i < n, a multiple of 8; dinp may be dout.")
	dinp := Mem{Base: Load(Param("dinp"), GP64())}
	x := Mem{Base: Load(Param("x"), GP64())}
	dout := Mem{Base: Load(Param("dout"), GP64())}
	n := Load(Param("n"), GP64())
	TESTQ(n, n)
	JZ(LabelRef("done"))
	Label("loop")
	v := YMM()
	VMOVUPS(x, v)
	e, s, den := geluParts(v)
	inv := YMM()
	VMOVUPS(splatF("one", 1), inv)
	VDIVPS(den, inv, inv)
	du := YMM() // 2u' = 2K(1 + 3A x²)
	VMULPS(v, v, du)
	VMULPS(splatF("gelu3A", 3*geluA), du, du)
	VADDPS(splatF("one", 1), du, du)
	VMULPS(splatF("gelu2K", 2*geluK), du, du)
	VMULPS(e, v, v)
	VMULPS(du, v, v)
	VFMADD213PS(s, inv, v) // 2x·e·u'/(1+e) + s
	VMULPS(inv, v, v)
	VMULPS(dout, v, v)
	VMOVUPS(v, dinp)
	ADDQ(U8(32), x.Base)
	ADDQ(U8(32), dout.Base)
	ADDQ(U8(32), dinp.Base)
	SUBQ(U8(8), n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}
