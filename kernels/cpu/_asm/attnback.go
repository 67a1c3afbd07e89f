// Attention backward's row ops: the per-query dot product D = dout·out and the softmax gradient of a score row.

package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func dotF32() {
	TEXT("dotF32", NOSPLIT, "func(x, y *float32, n int) float32")
	Pragma("noescape")
	Doc(
		"dotF32 returns the sum of x[i]*y[i] for i < n, a multiple of 8: eight",
		"lane sums (lane j takes i ≡ j mod 8 in order, one FMA per term), then",
		"added in a fixed tree.",
	)
	x := Mem{Base: Load(Param("x"), GP64())}
	y := Mem{Base: Load(Param("y"), GP64())}
	n := Load(Param("n"), GP64())
	s := YMM()
	VXORPS(s, s, s)
	loopRow("dot", n, []Register{x.Base, y.Base}, func() {
		v := YMM()
		VMOVUPS(x, v)
		VFMADD231PS(y, v, s) // s += v*y
	})
	Store(hsum(s), ReturnIndex(0))
	RET()
}

func softmaxGrad() {
	TEXT("softmaxGrad", NOSPLIT, "func(dp, p *float32, n int, d, scale float32)")
	Pragma("noescape")
	Doc(
		"softmaxGrad sets dp[i] = p[i]*(dp[i]-d)*scale for i < n, a multiple of 8,",
		"rounding after each operation: the generic loop's bits.",
	)
	dp := Mem{Base: Load(Param("dp"), GP64())}
	p := Mem{Base: Load(Param("p"), GP64())}
	n := Load(Param("n"), GP64())
	d, scale := YMM(), YMM()
	VBROADCASTSS(paramAddr("d"), d)
	VBROADCASTSS(paramAddr("scale"), scale)
	loopRow("grad", n, []Register{dp.Base, p.Base}, func() {
		v := YMM()
		VMOVUPS(dp, v)
		VSUBPS(d, v, v)
		VMULPS(p, v, v)
		VMULPS(scale, v, v)
		VMOVUPS(v, dp)
	})
	VZEROUPPER()
	RET()
}
