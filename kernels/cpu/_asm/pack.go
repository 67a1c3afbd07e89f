// Panel copies: kc rows of 6, 16 or 32 floats from a strided source (or columns of 16 or 32 rows) into a dense panel.

package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// packPanel6 packs op(a) when a is transposed, packPanel16 and packPanel32
// op(b) when b is not: the forms whose panel rows are already contiguous
// in memory. Two to four vector moves per row replace a memmove call each.
// The 32-wide panels feed the AVX-512 kernel but are copied with ymm
// moves, so that they run, and are tested, on AVX2 hosts.
func packPanels() {
	packPanel("packPanel6", mr, func(src, dst Mem) {
		x, y := XMM(), XMM()
		VMOVUPS(src, x)
		VMOVSD(src.Offset(16), y)
		VMOVUPS(x, dst)
		VMOVSD(y, dst.Offset(16))
	})
	packPanel("packPanel16", 16, func(src, dst Mem) {
		x, y := YMM(), YMM()
		VMOVUPS(src, x)
		VMOVUPS(src.Offset(32), y)
		VMOVUPS(x, dst)
		VMOVUPS(y, dst.Offset(32))
	})
	packPanel("packPanel32", 32, func(src, dst Mem) {
		var x [4]VecVirtual
		for i := range x {
			x[i] = YMM()
			VMOVUPS(src.Offset(32*i), x[i])
		}
		for i := range x {
			VMOVUPS(x[i], dst.Offset(32*i))
		}
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
	ADDQ(imm(4*width), dst.Base)
	DECQ(kc)
	JNZ(LabelRef(name + "_loop"))
	VZEROUPPER()
	RET()
}

// packPanelsT pack op(b) when b is transposed: column c of the panel is
// row c of b. Eight k at a time they load eight floats of each of the
// panel's 16 or 32 rows and transpose them as 8x8 blocks in registers
// (ymm: AVX2 for both widths).
func packPanelsT() {
	packPanelT("packPanel16T", 16)
	packPanelT("packPanel32T", 32)
}

func packPanelT(name string, width int) {
	TEXT(name, NOSPLIT, "func(dst, src *float32, kc, lds int)")
	Pragma("noescape")
	Doc(
		fmt.Sprintf("%s sets dst[k*%d + c] = src[c*lds + k] for c < %d and", name, width, width),
		"k < kc, a multiple of 8.",
	)
	dst := Mem{Base: Load(Param("dst"), GP64())}
	src := Load(Param("src"), GP64())
	kc := Load(Param("kc"), GP64())
	lds := Load(Param("lds"), GP64())
	SHLQ(U8(2), lds)
	lds3 := GP64()
	LEAQ(Mem{Base: lds, Index: lds, Scale: 2}, lds3)
	Label(name + "_loop")
	prev := src // the previous group's first row, 8 rows back
	for g := 0; g < width/8; g++ {
		// rows 8*g .. 8*g+7 start at src + (8*g + r)*lds
		row0 := GP64()
		if g == 0 {
			MOVQ(src, row0)
		} else {
			LEAQ(Mem{Base: prev, Index: lds, Scale: 8}, row0)
			prev = row0
		}
		out := transpose8(loadRows8(row0, lds, lds3))
		for k, o := range out {
			VMOVUPS(o, dst.Offset(4*width*k+32*g))
		}
	}
	ADDQ(U8(32), src)
	ADDQ(U32(8*4*width), dst.Base)
	SUBQ(U8(8), kc)
	JNZ(LabelRef(name + "_loop"))
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

// loadRows8 loads 8 floats from each of the 8 rows that start at row0, lds
// bytes apart (lds3 = 3*lds).
func loadRows8(row0, lds, lds3 Register) [8]VecVirtual {
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
	return r
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
