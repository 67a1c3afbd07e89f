// Panel copies: kc rows of 6 or 16 contiguous floats from a strided source into a dense panel.

package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// packPanel6 packs op(a) when a is transposed, packPanel16 op(b) when b is
// not: the two forms whose panel rows are already contiguous in memory.
// Two or three vector moves per row replace a memmove call each.
func packPanels() {
	packPanel("packPanel6", mr, func(src, dst Mem) {
		x, y := XMM(), XMM()
		VMOVUPS(src, x)
		VMOVSD(src.Offset(16), y)
		VMOVUPS(x, dst)
		VMOVSD(y, dst.Offset(16))
	})
	packPanel("packPanel16", nr, func(src, dst Mem) {
		x, y := YMM(), YMM()
		VMOVUPS(src, x)
		VMOVUPS(src.Offset(32), y)
		VMOVUPS(x, dst)
		VMOVUPS(y, dst.Offset(32))
	})
}

func packPanel(name string, width int, move func(src, dst Mem)) {
	TEXT(name, NOSPLIT, "func(dst, src *float32, kc, lds int)")
	Pragma("noescape")
	Doc(
		fmt.Sprintf("%s copies kc >= 1 rows of %d floats, lds floats apart in src,", name, width),
		"to dst, one after another.",
	)
	dst := Mem{Base: Load(Param("dst"), GP64())}
	src := Mem{Base: Load(Param("src"), GP64())}
	kc := Load(Param("kc"), GP64())
	lds := Load(Param("lds"), GP64())
	SHLQ(U8(2), lds)
	Label(name + "_loop")
	move(src, dst)
	ADDQ(lds, src.Base)
	ADDQ(U8(4*width), dst.Base)
	DECQ(kc)
	JNZ(LabelRef(name + "_loop"))
	VZEROUPPER()
	RET()
}

// packPanel16T packs op(b) when b is transposed: column c of the panel is
// row c of b. Eight k at a time it loads eight floats of each of 16 rows
// and transposes them as two 8x8 blocks in registers.
func packPanel16T() {
	TEXT("packPanel16T", NOSPLIT, "func(dst, src *float32, kc, lds int)")
	Pragma("noescape")
	Doc(
		"packPanel16T sets dst[k*16 + c] = src[c*lds + k] for c < 16 and",
		"k < kc, a multiple of 8.",
	)
	dst := Mem{Base: Load(Param("dst"), GP64())}
	src := Load(Param("src"), GP64())
	kc := Load(Param("kc"), GP64())
	lds := Load(Param("lds"), GP64())
	SHLQ(U8(2), lds)
	lds3 := GP64()
	LEAQ(Mem{Base: lds, Index: lds, Scale: 2}, lds3)
	Label("packPanel16T_loop")
	for half := 0; half < 2; half++ {
		// rows 8*half .. 8*half+7 start at src + (8*half + r)*lds
		row0 := GP64()
		if half == 0 {
			MOVQ(src, row0)
		} else {
			LEAQ(Mem{Base: src, Index: lds, Scale: 8}, row0)
		}
		row4 := GP64()
		LEAQ(Mem{Base: row0, Index: lds, Scale: 4}, row4)
		var r [8]VecVirtual
		for i := range r {
			r[i] = YMM()
			base := row0
			if i >= 4 {
				base = row4
			}
			VMOVUPS(rowAddr(base, lds, lds3, i%4), r[i])
		}
		out := transpose8(r)
		for k, o := range out {
			VMOVUPS(o, dst.Offset(64*k+32*half))
		}
	}
	ADDQ(U8(32), src)
	ADDQ(U32(8*64), dst.Base)
	SUBQ(U8(8), kc)
	JNZ(LabelRef("packPanel16T_loop"))
	VZEROUPPER()
	RET()
}

// rowAddr is row i (0..3) from base, rows lds bytes apart (lds3 = 3 lds).
func rowAddr(base, lds, lds3 Register, i int) Mem {
	switch i {
	case 1:
		return Mem{Base: base, Index: lds, Scale: 1}
	case 2:
		return Mem{Base: base, Index: lds, Scale: 2}
	case 3:
		return Mem{Base: base, Index: lds3, Scale: 1}
	}
	return Mem{Base: base}
}

// transpose8 returns the columns of the 8x8 block whose rows are r.
func transpose8(r [8]VecVirtual) [8]VecVirtual {
	var t, s, out [8]VecVirtual
	for i := 0; i < 8; i += 2 { // interleave pairs of rows
		t[i], t[i+1] = YMM(), YMM()
		VUNPCKLPS(r[i+1], r[i], t[i])
		VUNPCKHPS(r[i+1], r[i], t[i+1])
	}
	for i := 0; i < 8; i += 4 { // gather four rows' elements
		for j, src := range [][2]VecVirtual{{t[i], t[i+2]}, {t[i+1], t[i+3]}} {
			lo, hi := YMM(), YMM()
			VSHUFPS(U8(0x44), src[1], src[0], lo)
			VSHUFPS(U8(0xee), src[1], src[0], hi)
			s[i+2*j], s[i+2*j+1] = lo, hi
		}
	}
	for c := 0; c < 4; c++ { // join the 128-bit halves of rows 0-3 and 4-7
		out[c], out[c+4] = YMM(), YMM()
		VPERM2F128(U8(0x20), s[c+4], s[c], out[c])
		VPERM2F128(U8(0x31), s[c+4], s[c], out[c+4])
	}
	return out
}
