// Vector add: the bias broadcast, the residual stream and the encoder's scatter, eight floats at a time.

package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func addVec() {
	TEXT("addVec", NOSPLIT, "func(dst, a, b *float32, n int)")
	Pragma("noescape")
	Doc("addVec sets dst[i] = a[i] + b[i] for i < n, a multiple of 8; dst may be a or b.")
	dst := Mem{Base: Load(Param("dst"), GP64())}
	a := Mem{Base: Load(Param("a"), GP64())}
	b := Mem{Base: Load(Param("b"), GP64())}
	n := Load(Param("n"), GP64())
	TESTQ(n, n)
	JZ(LabelRef("done"))
	Label("loop")
	v := YMM()
	VMOVUPS(a, v)
	VADDPS(b, v, v)
	VMOVUPS(v, dst)
	for _, p := range []Register{dst.Base, a.Base, b.Base} {
		ADDQ(U8(32), p)
	}
	SUBQ(U8(8), n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

func addTo2() {
	TEXT("addTo2", NOSPLIT, "func(a, b, x *float32, n int)")
	Pragma("noescape")
	Doc(
		"addTo2 adds x[i] to a[i], then to b[i], for i < n, a multiple of 8 (the",
		"encoder's scatter into a dwte row and a dwpe row); a may be b, x neither.",
	)
	a := Mem{Base: Load(Param("a"), GP64())}
	b := Mem{Base: Load(Param("b"), GP64())}
	x := Mem{Base: Load(Param("x"), GP64())}
	n := Load(Param("n"), GP64())
	TESTQ(n, n)
	JZ(LabelRef("done"))
	Label("loop")
	v, w := YMM(), YMM()
	VMOVUPS(x, v)
	VADDPS(a, v, w)
	VMOVUPS(w, a)
	VADDPS(b, v, w)
	VMOVUPS(w, b)
	for _, p := range []Register{a.Base, b.Base, x.Base} {
		ADDQ(U8(32), p)
	}
	SUBQ(U8(8), n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}
