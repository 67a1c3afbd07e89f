// The AVX2+FMA GEMM micro-kernel: a 6x16 block of C held in twelve ymm registers.

package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// mr x nr is the register block: 6 rows of two ymm vectors take 12 of the 16
// ymm registers, leaving two for the row of B and one for a broadcast of A.
// Per k it issues 12 FMAs for 8 loads, so the two FMA pipes, not the load
// ports, set the pace.
const (
	mr = 6
	nr = 16
)

func sgemm6x16() {
	TEXT("sgemm6x16", NOSPLIT, "func(kc int, a *float32, rsa, csa int, b, c *float32, ldc int, alpha float32, accumulate bool)")
	Pragma("noescape")
	Doc(
		"sgemm6x16 computes acc (6,16) = A @ B over kc >= 1 steps, one FMA per",
		"term in k order from zero, then stores c = alpha*acc + c (one FMA) if",
		"accumulate, else c = alpha*acc; c's rows are ldc floats apart. A(r, k)",
		"is a[r*rsa + k*csa]: a packed panel (rsa 1, csa 6) or rows of op(a) in",
		"place (rsa its row length, csa 1). B is a packed panel (kc, 16).",
	)
	kc := Load(Param("kc"), GP64())
	a0 := Load(Param("a"), GP64())
	rs := Load(Param("rsa"), GP64())
	cs := Load(Param("csa"), GP64())
	SHLQ(U8(2), rs)
	SHLQ(U8(2), cs)
	a3 := GP64() // row 3: rows 0-2 and 3-5 are base, base+rs, base+2rs
	LEAQ(Mem{Base: a0, Index: rs, Scale: 2}, a3)
	ADDQ(rs, a3)
	pb := Mem{Base: Load(Param("b"), GP64())}
	prefetchC()

	var acc [mr][2]VecVirtual
	for r := range acc {
		for h := range acc[r] {
			acc[r][h] = YMM()
			VXORPS(acc[r][h], acc[r][h], acc[r][h])
		}
	}

	Label("loop")
	b0, b1 := YMM(), YMM()
	VMOVUPS(pb, b0)
	VMOVUPS(pb.Offset(32), b1)
	for r := range acc {
		base := a0
		if r >= 3 {
			base = a3
		}
		row := Mem{Base: base}
		if r%3 > 0 {
			row = Mem{Base: base, Index: rs, Scale: uint8(r % 3)}
		}
		ar := YMM()
		VBROADCASTSS(row, ar)
		VFMADD231PS(b0, ar, acc[r][0])
		VFMADD231PS(b1, ar, acc[r][1])
	}
	ADDQ(cs, a0)
	ADDQ(cs, a3)
	ADDQ(U8(4*nr), pb.Base)
	DECQ(kc)
	JNZ(LabelRef("loop"))

	storeC(acc)
	VZEROUPPER()
	RET()
}

// prefetchC asks for c's six rows (64 bytes each, perhaps across two cache
// lines) while the loop runs, so that the stores at its end do not wait on
// them: 5-20% on the model's GEMMs, whose c is rarely in cache.
func prefetchC() {
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	for r := 0; r < mr; r++ {
		PREFETCHT0(Mem{Base: c})
		PREFETCHT0(Mem{Base: c, Disp: 4*nr - 4})
		if r < mr-1 {
			ADDQ(ldc, c)
		}
	}
}

// storeC writes alpha*acc to c's six rows, added to them (one rounding, by
// FMA) when accumulate is set.
func storeC(acc [mr][2]VecVirtual) {
	alpha := YMM()
	VBROADCASTSS(paramAddr("alpha"), alpha) // not Load: its MOVSS is SSE, slow beside dirty ymm
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	accumulate := Load(Param("accumulate"), GP8())
	TESTB(accumulate, accumulate)
	JZ(LabelRef("overwrite"))
	for r := range acc {
		for h := range acc[r] {
			VFMADD213PS(Mem{Base: c, Disp: 32 * h}, alpha, acc[r][h])
			VMOVUPS(acc[r][h], Mem{Base: c, Disp: 32 * h})
		}
		if r < mr-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()

	Label("overwrite")
	for r := range acc {
		for h := range acc[r] {
			VMULPS(alpha, acc[r][h], acc[r][h])
			VMOVUPS(acc[r][h], Mem{Base: c, Disp: 32 * h})
		}
		if r < mr-1 {
			ADDQ(ldc, c)
		}
	}
}

// paramAddr is the frame address of a scalar parameter.
func paramAddr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}
