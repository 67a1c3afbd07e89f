// Vector optimizer kernels: the AdamW update and the float64 sum of squares of the gradient norm.

package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// adamConst indexes the splatted constants adamW reads: each is eight
// copies of one float32 (kernels/cpu's adamConsts).
const (
	adamGradScale = iota
	adamBeta1
	adamOneMinusBeta1
	adamBeta2
	adamOneMinusBeta2
	adamBC1
	adamBC2
	adamLR
	adamEps
	adamWD
	adamConsts
)

func adamW() {
	TEXT("adamW", NOSPLIT, "func(params, grads, m, v *float32, n int, h *[80]float32)") // not g: the assembler's name for the goroutine register
	Pragma("noescape")
	Doc(
		"adamW applies one AdamW step to n elements, a multiple of 8, with the",
		"constants of h (kernels/cpu's adamConsts, each splatted 8 times):",
		"m = b1 m + (1-b1) g, v = b2 v + (1-b2) g², with g = grads·scale;",
		"params -= lr ((m/bc1)/(sqrt(v/bc2) + eps) + wd params).",
	)
	p := Mem{Base: Load(Param("params"), GP64())}
	g := Mem{Base: Load(Param("grads"), GP64())}
	m := Mem{Base: Load(Param("m"), GP64())}
	v := Mem{Base: Load(Param("v"), GP64())}
	n := Load(Param("n"), GP64())
	h := Mem{Base: Load(Param("h"), GP64())}
	c := func(i int) Mem { return h.Offset(32 * i) }
	TESTQ(n, n)
	JZ(LabelRef("done"))
	Label("loop")
	gv, mv, vv, pv := YMM(), YMM(), YMM(), YMM()
	VMOVUPS(g, gv)
	VMULPS(c(adamGradScale), gv, gv)
	VMOVUPS(m, mv)
	VMULPS(c(adamBeta1), mv, mv)
	VFMADD231PS(c(adamOneMinusBeta1), gv, mv)
	VMOVUPS(mv, m)
	VMOVUPS(v, vv)
	VMULPS(c(adamBeta2), vv, vv)
	VMULPS(gv, gv, gv)
	VFMADD231PS(c(adamOneMinusBeta2), gv, vv)
	VMOVUPS(vv, v)
	VDIVPS(c(adamBC1), mv, mv)
	VDIVPS(c(adamBC2), vv, vv)
	VSQRTPS(vv, vv)
	VADDPS(c(adamEps), vv, vv)
	VDIVPS(vv, mv, mv)
	VMOVUPS(p, pv)
	VFMADD231PS(c(adamWD), pv, mv)
	VFNMADD231PS(c(adamLR), mv, pv)
	VMOVUPS(pv, p)
	for _, b := range []Mem{p, g, m, v} {
		ADDQ(U8(32), b.Base)
	}
	SUBQ(U8(8), n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

func sumSquares() {
	TEXT("sumSquares", NOSPLIT, "func(x *float32, n int) float64")
	Pragma("noescape")
	Doc(
		"sumSquares returns the sum of x[i]² for i < n, a multiple of 16, in",
		"float64: sixteen lane sums (lane j takes i ≡ j mod 16, in order), then",
		"added in a fixed tree.",
	)
	x := Mem{Base: Load(Param("x"), GP64())}
	n := Load(Param("n"), GP64())
	var acc [4]VecVirtual
	for i := range acc {
		acc[i] = YMM()
		VXORPD(acc[i], acc[i], acc[i])
	}
	TESTQ(n, n)
	JZ(LabelRef("done"))
	Label("loop")
	for i := range acc {
		d := YMM()
		VCVTPS2PD(x.Offset(16*i), d)
		VFMADD231PD(d, d, acc[i])
	}
	ADDQ(U8(64), x.Base)
	SUBQ(U8(16), n)
	JNZ(LabelRef("loop"))
	Label("done")
	VADDPD(acc[1], acc[0], acc[0])
	VADDPD(acc[3], acc[2], acc[2])
	VADDPD(acc[2], acc[0], acc[0])
	hi := XMM()
	VEXTRACTF128(U8(1), acc[0], hi)
	lo := acc[0].AsX()
	VADDPD(hi, lo, lo)
	VUNPCKHPD(lo, lo, hi)
	VADDSD(hi, lo, lo)
	VZEROUPPER()
	Store(lo, ReturnIndex(0))
	RET()
}

// colSums32 is the column sum of the bias and LayerNorm weight gradients:
// each column adds its rows in order in float64, as the generic code does,
// so the two paths give the same bits.
func colSums32() {
	TEXT("colSums32", NOSPLIT, "func(dst *float64, src *float32, rows, ld int)")
	Pragma("noescape")
	Doc(
		"colSums32 adds to dst[j], j < 32, the float64 sum of src[r*ld + j]",
		"over rows r = 0..rows-1 in order.",
	)
	dst := Mem{Base: Load(Param("dst"), GP64())}
	src := Mem{Base: Load(Param("src"), GP64())}
	rows := Load(Param("rows"), GP64())
	ld := Load(Param("ld"), GP64())
	SHLQ(U8(2), ld)
	var acc [8]VecVirtual
	for i := range acc {
		acc[i] = YMM()
		VMOVUPD(dst.Offset(32*i), acc[i])
	}
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	Label("loop")
	for i := range acc {
		d := YMM()
		VCVTPS2PD(src.Offset(16*i), d)
		VADDPD(d, acc[i], acc[i])
	}
	ADDQ(ld, src.Base)
	DECQ(rows)
	JNZ(LabelRef("loop"))
	Label("done")
	for i := range acc {
		VMOVUPD(acc[i], dst.Offset(32*i))
	}
	VZEROUPPER()
	RET()
}
