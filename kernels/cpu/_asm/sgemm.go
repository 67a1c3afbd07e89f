// The GEMM micro-kernels: a 6x16 block of C in twelve ymm registers (AVX2+FMA) and a 6x32 block in twelve zmm registers (AVX-512F).

package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// mr is the register block's rows. Of two vectors each, they take 12 of
// the 16 ymm registers (a 6x16 block), leaving two for the row of B and
// one for a broadcast of A; per k the kernel issues 12 FMAs for 8 loads,
// so the two FMA pipes, not the load ports, set the pace. The AVX-512
// kernel is the same in zmm registers, twice as wide (6x32).
const mr = 6

// vecKind is one vector width of the micro-kernel: its registers and how
// to zero one.
type vecKind struct {
	bytes int
	reg   func() VecVirtual
	zero  func(x VecVirtual)
}

var (
	ymm = vecKind{32, YMM, func(x VecVirtual) { VXORPS(x, x, x) }}
	// VXORPS on zmm is AVX512DQ; VPXORD zeroes as well and needs only AVX512F.
	zmm = vecKind{64, ZMM, func(x VecVirtual) { VPXORD(x, x, x) }}
)

func sgemmKernels() {
	sgemm("sgemm6x16", ymm)
	sgemm("sgemm6x32", zmm)
}

// sgemm generates the 6-row micro-kernel whose rows are two vectors of v:
// its C block and B panels are 2*v.bytes/4 floats wide. Each lane sums
// its k in order with one FMA per term, so the two widths give each
// element of C the same bits.
func sgemm(name string, v vecKind) {
	width := 2 * v.bytes / 4
	TEXT(name, NOSPLIT, "func(kc int, a *float32, rsa, csa int, b, c *float32, ldc int, alpha float32, accumulate bool)")
	Pragma("noescape")
	Doc(
		fmt.Sprintf("%s computes acc (6,%d) = A @ B over kc >= 1 steps, one FMA per", name, width),
		"term in k order from zero, then stores c = alpha*acc + c (one FMA) if",
		"accumulate, else c = alpha*acc; c's rows are ldc floats apart. A(r, k)",
		"is a[r*rsa + k*csa]: a packed panel (rsa 1, csa 6) or rows of op(a) in",
		fmt.Sprintf("place (rsa its row length, csa 1). B is a packed panel (kc, %d).", width),
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
	prefetchC(4 * width)

	var acc [mr][2]VecVirtual
	for r := range acc {
		for h := range acc[r] {
			acc[r][h] = v.reg()
			v.zero(acc[r][h])
		}
	}

	Label("loop")
	b0, b1 := v.reg(), v.reg()
	VMOVUPS(pb, b0)
	VMOVUPS(pb.Offset(v.bytes), b1)
	for r := range acc {
		base := a0
		if r >= 3 {
			base = a3
		}
		row := Mem{Base: base}
		if r%3 > 0 {
			row = Mem{Base: base, Index: rs, Scale: uint8(r % 3)}
		}
		ar := v.reg()
		VBROADCASTSS(row, ar)
		VFMADD231PS(b0, ar, acc[r][0])
		VFMADD231PS(b1, ar, acc[r][1])
	}
	ADDQ(cs, a0)
	ADDQ(cs, a3)
	ADDQ(imm(4*width), pb.Base)
	DECQ(kc)
	JNZ(LabelRef("loop"))

	storeC(acc, v)
	VZEROUPPER()
	RET()
}

// prefetchC asks for c's six rows (rowBytes each, perhaps across one more
// cache line than they fill) while the loop runs, so that the stores at
// its end do not wait on them: 5-20% on the model's GEMMs, whose c is
// rarely in cache.
func prefetchC(rowBytes int) {
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	for r := 0; r < mr; r++ {
		for off := 0; off < rowBytes-4; off += 64 {
			PREFETCHT0(Mem{Base: c, Disp: off})
		}
		PREFETCHT0(Mem{Base: c, Disp: rowBytes - 4})
		if r < mr-1 {
			ADDQ(ldc, c)
		}
	}
}

// storeC writes alpha*acc to c's six rows, added to them (one rounding, by
// FMA) when accumulate is set.
func storeC(acc [mr][2]VecVirtual, v vecKind) {
	alpha := v.reg()
	VBROADCASTSS(paramAddr("alpha"), alpha) // not Load: its MOVSS is SSE, slow beside dirty ymm
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	accumulate := Load(Param("accumulate"), GP8())
	TESTB(accumulate, accumulate)
	JZ(LabelRef("overwrite"))
	for r := range acc {
		for h := range acc[r] {
			VFMADD213PS(Mem{Base: c, Disp: v.bytes * h}, alpha, acc[r][h])
			VMOVUPS(acc[r][h], Mem{Base: c, Disp: v.bytes * h})
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
			VMOVUPS(acc[r][h], Mem{Base: c, Disp: v.bytes * h})
		}
		if r < mr-1 {
			ADDQ(ldc, c)
		}
	}
}

// imm is the constant n as an 8-bit immediate where it fits one (sign
// extended, so below 128), else as a 32-bit one.
func imm(n int) Constant {
	if n < 128 {
		return U8(n)
	}
	return U32(n)
}

// paramAddr is the frame address of a scalar parameter.
func paramAddr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}
