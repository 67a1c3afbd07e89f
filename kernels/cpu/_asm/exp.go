// Vector exp: an 8-lane float32 exp for softmax, cross-entropy and GELU, and the row op expShift built on it.

package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The algorithm of kernels/cpu's expf (Cephes' coefficients): x = k ln2 +
// r with k = round(x log2e), e^r by a degree-6 polynomial, 2^k in the
// exponent bits; but with FMAs, so its bits differ from expf's. Below
// ln(smallest normal) it flushes to zero; NaN stays NaN. Callers pass x <=
// 88, where 2^k is a normal float32.
const (
	expMin = -87.33654475055310 // ln(smallest normal float32)
	expMax = 88.0
)

var splats = map[string]Mem{}

// splat is a 32-byte read-only constant holding v in every lane: a memory
// operand for the vector ops, which keeps the constants out of registers.
func splat(name string, bits uint32) Mem {
	if m, ok := splats[name]; ok {
		return m
	}
	m := GLOBL(name, RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(bits))
	}
	splats[name] = m
	return m
}

func splatF(name string, v float64) Mem { return splat(name, math.Float32bits(float32(v))) }

// expVec returns e^x lane-wise; x is left unchanged.
func expVec(x VecVirtual) VecVirtual {
	// min and max return their second source when either is NaN: x must
	// be that source, so the bounds go into registers.
	hi, r := YMM(), YMM()
	VMOVUPS(splatF("expMax", expMax), hi)
	VMINPS(x, hi, hi)
	VMOVUPS(splatF("expMin", expMin), r)
	VMAXPS(hi, r, r)
	k := YMM()
	VMULPS(splatF("log2e", math.Log2E), r, k)
	VROUNDPS(U8(0), k, k) // to nearest
	VFNMADD231PS(splatF("ln2Hi", 0.693359375), k, r)
	VFNMADD231PS(splatF("ln2Lo", -2.12194440e-4), k, r)
	p := YMM()
	VMOVUPS(splatF("expC0", 1.9875691500e-4), p)
	for i, c := range []float64{1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1} {
		VFMADD213PS(splatF(fmt.Sprintf("expC%d", i+1), c), r, p) // p = p*r + c
	}
	z := YMM()
	VMULPS(r, r, z)
	VFMADD213PS(r, z, p) // p*r² + r
	VADDPS(splatF("one", 1), p, p)
	ki := YMM()
	VCVTPS2DQ(k, ki)
	VPADDD(splat("bias127", 127), ki, ki)
	VPSLLD(U8(23), ki, ki) // 2^k
	VMULPS(ki, p, p)
	under := YMM()
	VCMPPS(U8(1), splatF("expMin", expMin), x, under) // x < expMin (false for NaN)
	VANDNPS(p, under, p)
	return p
}

func expShift() {
	TEXT("expShift", NOSPLIT, "func(x *float32, n int, scale, shift float32) float32")
	Pragma("noescape")
	Doc(
		"expShift sets x[i] = e^(x[i]*scale - shift) for i < n, a multiple of 8,",
		"with the product and difference rounded once (FMA), and returns the sum",
		"of the results: eight lane sums in index order, then added in a fixed tree.",
	)
	x := Mem{Base: Load(Param("x"), GP64())}
	n := Load(Param("n"), GP64())
	scale, shift := YMM(), YMM()
	VBROADCASTSS(paramAddr("scale"), scale)
	VBROADCASTSS(paramAddr("shift"), shift)
	sum := YMM()
	VXORPS(sum, sum, sum)
	TESTQ(n, n)
	JZ(LabelRef("done"))
	Label("loop")
	v := YMM()
	VMOVUPS(x, v)
	VFMSUB213PS(shift, scale, v) // v*scale - shift
	e := expVec(v)
	VMOVUPS(e, x)
	VADDPS(e, sum, sum)
	ADDQ(U8(32), x.Base)
	SUBQ(U8(8), n)
	JNZ(LabelRef("loop"))
	Label("done")
	Store(hsum(sum), ReturnIndex(0))
	RET()
}

// hsum adds a ymm's lanes as ((0+4)+(2+6)) + ((1+5)+(3+7)), leaves the
// upper ymm state clean and returns the sum in an xmm.
func hsum(v VecVirtual) Register {
	hi := XMM()
	VEXTRACTF128(U8(1), v, hi)
	lo := v.AsX()
	VADDPS(hi, lo, lo)
	sh := XMM()
	VMOVHLPS(lo, lo, sh)
	VADDPS(sh, lo, lo)
	VMOVSHDUP(lo, sh)
	VADDSS(sh, lo, lo)
	VZEROUPPER()
	return lo
}

func rowMax() {
	TEXT("rowMax", NOSPLIT, "func(x *float32, n int) float32")
	Pragma("noescape")
	Doc(
		"rowMax returns the largest x[i] for i < n, a multiple of 8 and at least 8.",
		"A NaN may be lost: its callers' sums of exponentials carry it instead.",
	)
	x := Mem{Base: Load(Param("x"), GP64())}
	n := Load(Param("n"), GP64())
	m := YMM()
	VMOVUPS(x, m)
	Label("loop")
	VMAXPS(x, m, m)
	ADDQ(U8(32), x.Base)
	SUBQ(U8(8), n)
	JNZ(LabelRef("loop"))
	hi := XMM()
	VEXTRACTF128(U8(1), m, hi)
	lo := m.AsX()
	VMAXPS(hi, lo, lo)
	sh := XMM()
	VMOVHLPS(lo, lo, sh)
	VMAXPS(sh, lo, lo)
	VMOVSHDUP(lo, sh)
	VMAXSS(sh, lo, lo)
	VZEROUPPER()
	Store(lo, ReturnIndex(0))
	RET()
}
