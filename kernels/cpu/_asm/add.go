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

func axpyF32() {
	TEXT("axpyF32", NOSPLIT, "func(dst, x *float32, a float32, n int)")
	Pragma("noescape")
	Doc(
		"axpyF32 sets dst[i] = a*x[i] + dst[i], rounded once (one FMA), for i < n,",
		"a multiple of 8.",
	)
	dst := Mem{Base: Load(Param("dst"), GP64())}
	x := Mem{Base: Load(Param("x"), GP64())}
	n := Load(Param("n"), GP64())
	a := YMM()
	VBROADCASTSS(paramAddr("a"), a)
	loopRow("axpy", n, []Register{dst.Base, x.Base}, func() {
		v := YMM()
		VMOVUPS(dst, v)
		VFMADD231PS(x, a, v) // v += a*x
		VMOVUPS(v, dst)
	})
	VZEROUPPER()
	RET()
}

func gemvRow64() {
	TEXT("gemvRow64", NOSPLIT, "func(acc, a, b *float32, ldb, kc int)")
	Pragma("noescape")
	Doc(
		"gemvRow64 sets acc[j] to the sum over k < kc (at least 1) of a[k]*b[k*ldb+j],",
		"for j < 64: from zero, one FMA per term in k order, the 64 sums in eight",
		"ymm registers while b's rows stream past (a single row times b's columns).",
	)
	acc := Mem{Base: Load(Param("acc"), GP64())}
	a := Mem{Base: Load(Param("a"), GP64())}
	b := Mem{Base: Load(Param("b"), GP64())}
	ldb := Load(Param("ldb"), GP64())
	kc := Load(Param("kc"), GP64())
	SHLQ(U8(2), ldb)
	sums := make([]VecVirtual, 8)
	for i := range sums {
		sums[i] = YMM()
		VXORPS(sums[i], sums[i], sums[i])
	}
	Label("gemv_loop")
	ak := YMM()
	VBROADCASTSS(a, ak)
	for i, s := range sums {
		VFMADD231PS(b.Offset(32*i), ak, s) // s += a[k] * b[k, 8i:8i+8]
	}
	ADDQ(U8(4), a.Base)
	ADDQ(ldb, b.Base)
	DECQ(kc)
	JNZ(LabelRef("gemv_loop"))
	for i, s := range sums {
		VMOVUPS(s, acc.Offset(32*i))
	}
	VZEROUPPER()
	RET()
}

func gemvT8() {
	TEXT("gemvT8", NOSPLIT, "func(c, a, b *float32, ldb, kc int)")
	Pragma("noescape")
	Doc(
		"gemvT8 sets c[i] to the sum over k < kc (a multiple of 8, at least 8) of",
		"a[k]*b[i*ldb+k], for i < 8: from zero, one FMA per term in k order. Each",
		"8x8 block of b's rows is transposed in registers (transpose8), so that",
		"the eight sums advance together, k by k (a single row times b's rows).",
	)
	c := Mem{Base: Load(Param("c"), GP64())}
	a := Mem{Base: Load(Param("a"), GP64())}
	row0 := Load(Param("b"), GP64())
	lds := Load(Param("ldb"), GP64())
	kc := Load(Param("kc"), GP64())
	SHLQ(U8(2), lds)
	lds3 := GP64()
	LEAQ(Mem{Base: lds, Index: lds, Scale: 2}, lds3)
	sum := YMM()
	VXORPS(sum, sum, sum)
	Label("gemvT8_loop")
	for k, col := range transpose8(loadRows8(row0, lds, lds3)) { // col: b[0:8, k] of this block
		ak := YMM()
		VBROADCASTSS(a.Offset(4*k), ak)
		VFMADD231PS(col, ak, sum)
	}
	ADDQ(U8(32), a.Base)
	ADDQ(U8(32), row0)
	SUBQ(U8(8), kc)
	JNZ(LabelRef("gemvT8_loop"))
	VMOVUPS(sum, c)
	VZEROUPPER()
	RET()
}
