// Vector LayerNorm rows: float64 row sums over float64 lanes, and the float32 element-wise parts in the generic code's order.

package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The sums take eight float64 lanes (lane j adds the elements i ≡ j mod 8
// in order) and then add the lanes in a fixed tree: their bits differ from
// the generic row loop's but depend on the row length alone (rowDevSq
// squares and adds in one FMA). The element-wise parts take no FMA and
// round after each operation, as the Go rows do on any GOAMD64 (they round
// each product by an explicit conversion, which keeps Go from fusing it),
// so they give the generic bits for equal statistics.

// loopRow emits a loop over n (a multiple of 8) floats, eight per step:
// body gets the offset of the step's first element; ptrs advance by 32.
func loopRow(name string, n Register, ptrs []Register, body func()) {
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	Label(name + "_loop")
	body()
	for _, p := range ptrs {
		ADDQ(U8(32), p)
	}
	SUBQ(U8(8), n)
	JNZ(LabelRef(name + "_loop"))
	Label(name + "_done")
}

// reducePD adds two ymm of float64 lanes into one float64, in a fixed
// tree. The caller clears the upper ymm state (VZEROUPPER) before it
// stores the result with an SSE move.
func reducePD(a, b VecVirtual) Register {
	VADDPD(b, a, a)
	hi := XMM()
	VEXTRACTF128(U8(1), a, hi)
	lo := a.AsX()
	VADDPD(hi, lo, lo)
	VUNPCKHPD(lo, lo, hi)
	VADDSD(hi, lo, lo)
	return lo
}

// widen converts the eight floats at m to float64 in two ymm.
func widen(m Mem) (lo, hi VecVirtual) {
	lo, hi = YMM(), YMM()
	VCVTPS2PD(m, lo)
	VCVTPS2PD(m.Offset(16), hi)
	return lo, hi
}

func rowSum() {
	TEXT("rowSum", NOSPLIT, "func(x *float32, n int) float64")
	Pragma("noescape")
	Doc("rowSum returns the float64 sum of x[i] for i < n, a multiple of 8.")
	x := Mem{Base: Load(Param("x"), GP64())}
	n := Load(Param("n"), GP64())
	s0, s1 := YMM(), YMM()
	VXORPD(s0, s0, s0)
	VXORPD(s1, s1, s1)
	loopRow("sum", n, []Register{x.Base}, func() {
		lo, hi := widen(x)
		VADDPD(lo, s0, s0)
		VADDPD(hi, s1, s1)
	})
	sum := reducePD(s0, s1)
	VZEROUPPER()
	Store(sum, ReturnIndex(0))
	RET()
}

func rowDevSq() {
	TEXT("rowDevSq", NOSPLIT, "func(x *float32, n int, mean float64) float64")
	Pragma("noescape")
	Doc("rowDevSq returns the float64 sum of (x[i] - mean)² for i < n, a multiple of 8.")
	x := Mem{Base: Load(Param("x"), GP64())}
	n := Load(Param("n"), GP64())
	mean := YMM()
	VBROADCASTSD(paramAddr("mean"), mean)
	q0, q1 := YMM(), YMM()
	VXORPD(q0, q0, q0)
	VXORPD(q1, q1, q1)
	loopRow("dev", n, []Register{x.Base}, func() {
		lo, hi := widen(x)
		VSUBPD(mean, lo, lo)
		VSUBPD(mean, hi, hi)
		VFMADD231PD(lo, lo, q0)
		VFMADD231PD(hi, hi, q1)
	})
	ss := reducePD(q0, q1)
	VZEROUPPER()
	Store(ss, ReturnIndex(0))
	RET()
}

func lnNorm() {
	TEXT("lnNorm", NOSPLIT, "func(out, x, w, b *float32, n int, mean, rstd float32)")
	Pragma("noescape")
	Doc("lnNorm sets out[i] = (x[i]-mean)*rstd*w[i] + b[i] for i < n, a multiple of 8, rounding after each operation.")
	out := Mem{Base: Load(Param("out"), GP64())}
	x := Mem{Base: Load(Param("x"), GP64())}
	w := Mem{Base: Load(Param("w"), GP64())}
	b := Mem{Base: Load(Param("b"), GP64())}
	n := Load(Param("n"), GP64())
	mean, rstd := YMM(), YMM()
	VBROADCASTSS(paramAddr("mean"), mean)
	VBROADCASTSS(paramAddr("rstd"), rstd)
	loopRow("norm", n, []Register{out.Base, x.Base, w.Base, b.Base}, func() {
		v := YMM()
		VMOVUPS(x, v)
		VSUBPS(mean, v, v)
		VMULPS(rstd, v, v)
		VMULPS(w, v, v)
		VADDPS(b, v, v)
		VMOVUPS(v, out)
	})
	VZEROUPPER()
	RET()
}

func lnBackSums() {
	TEXT("lnBackSums", NOSPLIT, "func(x, d, w *float32, n int, mean, rstd float32) (sumD, sumDN float64)")
	Pragma("noescape")
	Doc(
		"lnBackSums returns the float64 sums over i < n, a multiple of 8, of",
		"dnorm = w[i]*d[i] and of dnorm*((x[i]-mean)*rstd), each product rounded to float32.",
	)
	x := Mem{Base: Load(Param("x"), GP64())}
	d := Mem{Base: Load(Param("d"), GP64())}
	w := Mem{Base: Load(Param("w"), GP64())}
	n := Load(Param("n"), GP64())
	mean, rstd := YMM(), YMM()
	VBROADCASTSS(paramAddr("mean"), mean)
	VBROADCASTSS(paramAddr("rstd"), rstd)
	var acc [4]VecVirtual // sumD low, high; sumDN low, high
	for i := range acc {
		acc[i] = YMM()
		VXORPD(acc[i], acc[i], acc[i])
	}
	loopRow("sums", n, []Register{x.Base, d.Base, w.Base}, func() {
		dn, norm := YMM(), YMM()
		VMOVUPS(w, dn)
		VMULPS(d, dn, dn)
		VMOVUPS(x, norm)
		VSUBPS(mean, norm, norm)
		VMULPS(rstd, norm, norm)
		VMULPS(dn, norm, norm)
		for i, v := range []VecVirtual{dn, norm} {
			lo, hi := YMM(), YMM()
			VCVTPS2PD(v.AsX(), lo)
			VEXTRACTF128(U8(1), v, hi.AsX())
			VCVTPS2PD(hi.AsX(), hi)
			VADDPD(lo, acc[2*i], acc[2*i])
			VADDPD(hi, acc[2*i+1], acc[2*i+1])
		}
	})
	sumD, sumDN := reducePD(acc[0], acc[1]), reducePD(acc[2], acc[3])
	VZEROUPPER()
	Store(sumD, ReturnIndex(0))
	Store(sumDN, ReturnIndex(1))
	RET()
}

func lnBackOut() {
	TEXT("lnBackOut", NOSPLIT, "func(di, x, d, w *float32, n int, mean, rstd, meanD, meanDN float32)")
	Pragma("noescape")
	Doc(
		"lnBackOut adds (w[i]*d[i] - meanD - (x[i]-mean)*rstd*meanDN)*rstd to di[i]",
		"for i < n, a multiple of 8, rounding after each operation.",
	)
	di := Mem{Base: Load(Param("di"), GP64())}
	x := Mem{Base: Load(Param("x"), GP64())}
	d := Mem{Base: Load(Param("d"), GP64())}
	w := Mem{Base: Load(Param("w"), GP64())}
	n := Load(Param("n"), GP64())
	mean, rstd, meanD, meanDN := YMM(), YMM(), YMM(), YMM()
	VBROADCASTSS(paramAddr("mean"), mean)
	VBROADCASTSS(paramAddr("rstd"), rstd)
	VBROADCASTSS(paramAddr("meanD"), meanD)
	VBROADCASTSS(paramAddr("meanDN"), meanDN)
	loopRow("out", n, []Register{di.Base, x.Base, d.Base, w.Base}, func() {
		norm, t := YMM(), YMM()
		VMOVUPS(x, norm)
		VSUBPS(mean, norm, norm)
		VMULPS(rstd, norm, norm)
		VMULPS(meanDN, norm, norm)
		VMOVUPS(w, t)
		VMULPS(d, t, t)
		VSUBPS(meanD, t, t)
		VSUBPS(norm, t, t)
		VMULPS(rstd, t, t)
		VADDPS(di, t, t)
		VMOVUPS(t, di)
	})
	VZEROUPPER()
	RET()
}

func lnColSums16() {
	TEXT("lnColSums16", NOSPLIT, "func(accW, accB *float64, x, d, mean, rstd *float32, rows, ld int)")
	Pragma("noescape")
	Doc(
		"lnColSums16 adds to accW[j] and accB[j], j < 16, the float64 sums over",
		"rows r = 0..rows-1 in order of (x[r*ld+j]-mean[r])*rstd[r]*d[r*ld+j]",
		"(rounded to float32 after each operation) and of d[r*ld+j]: the",
		"generic column loop of LayerNormBackward's dw and db, to the bit.",
	)
	accW := Mem{Base: Load(Param("accW"), GP64())}
	accB := Mem{Base: Load(Param("accB"), GP64())}
	x := Mem{Base: Load(Param("x"), GP64())}
	d := Mem{Base: Load(Param("d"), GP64())}
	mean := Mem{Base: Load(Param("mean"), GP64())}
	rstd := Mem{Base: Load(Param("rstd"), GP64())}
	rows := Load(Param("rows"), GP64())
	ld := Load(Param("ld"), GP64())
	SHLQ(U8(2), ld)
	var aw, ab [4]VecVirtual
	for i := range aw {
		aw[i], ab[i] = YMM(), YMM()
		VMOVUPD(accW.Offset(32*i), aw[i])
		VMOVUPD(accB.Offset(32*i), ab[i])
	}
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	Label("loop")
	m, s := YMM(), YMM()
	VBROADCASTSS(mean, m)
	VBROADCASTSS(rstd, s)
	for i := range aw { // four columns at a time
		v, w := XMM(), YMM()
		VMOVUPS(x.Offset(16*i), v)
		VSUBPS(m.AsX(), v, v)
		VMULPS(s.AsX(), v, v)
		VMULPS(d.Offset(16*i), v, v)
		VCVTPS2PD(v, w)
		VADDPD(w, aw[i], aw[i])
		g := YMM()
		VCVTPS2PD(d.Offset(16*i), g)
		VADDPD(g, ab[i], ab[i])
	}
	ADDQ(ld, x.Base)
	ADDQ(ld, d.Base)
	ADDQ(U8(4), mean.Base)
	ADDQ(U8(4), rstd.Base)
	DECQ(rows)
	JNZ(LabelRef("loop"))
	Label("done")
	for i := range aw {
		VMOVUPD(aw[i], accW.Offset(32*i))
		VMOVUPD(ab[i], accB.Offset(32*i))
	}
	VZEROUPPER()
	RET()
}
