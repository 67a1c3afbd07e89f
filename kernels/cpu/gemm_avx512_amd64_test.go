// The avx512 GEMM: its nr = 32 driver and AVX2 packers here, through a stand-in kernel; sgemm6x32 itself where the host has AVX-512F.

package cpu

import (
	"fmt"
	"math"
	"testing"
	"unsafe"
)

// sgemm6x32Halves stands in for sgemm6x32 on hosts without AVX-512: it
// splits the (kc, 32) B panel into two (kc, 16) panels and runs sgemm6x16
// on c's columns 0-15 and 16-31. Every element of c sees the same FMAs in
// the same order as in one 6x32 block, so it gives the bits sgemm6x32 must.
func sgemm6x32Halves(kc int, a *float32, rsa, csa int, b, c *float32, ldc int, alpha float32, accumulate bool) {
	panel := unsafe.Slice(b, kc*32)
	lo, hi := make([]float32, kc*16), make([]float32, kc*16)
	for k := 0; k < kc; k++ {
		copy(lo[k*16:(k+1)*16], panel[k*32:])
		copy(hi[k*16:(k+1)*16], panel[k*32+16:])
	}
	sgemm6x16(kc, a, rsa, csa, &lo[0], c, ldc, alpha, accumulate)
	sgemm6x16(kc, a, rsa, csa, &hi[0], (*float32)(unsafe.Add(unsafe.Pointer(c), 16*4)), ldc, alpha, accumulate)
}

// withHalves runs f with the avx512 kernel's micro-kernel replaced by
// sgemm6x32Halves: everything else of the nr = 32 path is the real one.
func withHalves(f func()) {
	defer func(k packedKernel) { avx512Packed = k }(avx512Packed)
	avx512Packed.micro = sgemm6x32Halves
	f()
}

// TestAVX512DriverBits: the whole nr = 32 path (tiles, edges, packing
// with packPanel32 and packPanel32T, triangles) on the stand-in kernel
// gives the avx2 GEMM's bits. It runs on any AVX2 host.
func TestAVX512DriverBits(t *testing.T) {
	if hostISA() < avx2 {
		t.Skip("no AVX2 and FMA on this host: the stand-in is built from sgemm6x16")
	}
	withHalves(func() { sameGemmBits(t, newOps(3, avx512), newOps(3, avx2)) })
}

// TestAVX512GemmBits: the avx512 Ops' GEMM, on sgemm6x32 itself, gives
// the avx2 Ops' bits over every shape, form, alpha, beta and triangle of
// TestAVX512DriverBits; and sgemm6x32 gives sgemm6x32Halves' bits call by
// call.
func TestAVX512GemmBits(t *testing.T) {
	if hostISA() < avx512 {
		t.Skip("no AVX-512F (with AVX2 and FMA, and zmm state saved by the OS) on this host: sgemm6x32 cannot run here; TestAVX512DriverBits checks the rest of the avx512 path")
	}
	t.Run("kernel", testSgemm6x32)
	sameGemmBits(t, newOps(3, avx512), newOps(3, avx2))
}

// testSgemm6x32 compares single calls of sgemm6x32 and its stand-in, on A
// in both layouts, accumulating and not, with c's rows apart by more than
// 32 floats.
func testSgemm6x32(t *testing.T) {
	r := newRand(93)
	const ldc = 45
	for _, kc := range []int{1, 2, 7, 256} {
		for _, packed := range []bool{true, false} {
			for _, accumulate := range []bool{false, true} {
				a, b, c0 := randF32(r, mr*kc), randF32(r, kc*32), randF32(r, 5*ldc+32)
				rs, cs := kc, 1 // rows of op(a) in place
				if packed {
					rs, cs = 1, mr
				}
				got, want := cloneF32(c0), cloneF32(c0)
				sgemm6x32(kc, &a[0], rs, cs, &b[0], &got[0], ldc, 0.7, accumulate)
				sgemm6x32Halves(kc, &a[0], rs, cs, &b[0], &want[0], ldc, 0.7, accumulate)
				sameBits(t, fmt.Sprintf("kc=%d packed=%v accumulate=%v", kc, packed, accumulate), got, want)
			}
		}
	}
}

// sameGemmBits runs o and ref on the same GEMMs and wants the same bits:
// shapes with edges of 6 rows and of 16 and 32 columns, one and several K
// blocks, a column block past ncBlock and a row block past mcBlock; K
// packed whole and by blocks; every transpose form; beta 0, 1 and 0.5 and
// alpha other than 1; and the triangles of attention.
func sameGemmBits(t *testing.T, o, ref *Ops) {
	bothSpans(t, func(t *testing.T) {
		r := newRand(91)
		shapes := [][3]int{
			{1, 1, 1}, {6, 32, 1}, {1, 5, 3}, {7, 33, 8}, {12, 64, 513}, {13, 37, 600},
			{50, 130, 257}, {25, 48, 256}, {13, ncBlock + 37, 300}, {mcBlock + 7, 45, 70},
		}
		for _, s := range shapes {
			M, N, K := s[0], s[1], s[2]
			for _, tr := range transposes {
				for _, ab := range [][2]float32{{1, 0}, {1, 1}, {0.7, 0.5}, {-1.5, 0}, {0.5, 1}} {
					a, b, c0 := randF32(r, M*K), randF32(r, K*N), randF32(r, M*N)
					got, want := cloneF32(c0), cloneF32(c0)
					o.Gemm(tr[0], tr[1], M, N, K, ab[0], a, b, ab[1], got)
					ref.Gemm(tr[0], tr[1], M, N, K, ab[0], a, b, ab[1], want)
					sameBits(t, fmt.Sprintf("%dx%dx%d tA=%v tB=%v alpha=%v beta=%v", M, N, K, tr[0], tr[1], ab[0], ab[1]), got, want)
					if t.Failed() {
						return
					}
				}
			}
		}
		sameTriangleBits(t, o, ref)
	})
}

// sameTriangleBits compares o and ref on the products of attention
// (gemmStrided with each triangle), with T and the head size off the
// register blocks' edges.
func sameTriangleBits(t *testing.T, o, ref *Ops) {
	r := newRand(92)
	for _, T := range []int{37, 2*kcBlock + 37} {
		for _, hs := range []int{40, 64} {
			tri, b := lowerTriangular(r, T), randF32(r, T*hs)
			for _, c := range []struct {
				transA bool
				shape  triangle
			}{{false, full}, {false, lowerA}, {true, upperA}} {
				for _, beta := range []float32{0, 1} {
					g := gemmArgs{transA: c.transA, M: T, N: hs, K: T, alpha: 0.5, beta: beta, a: tri, b: b}
					c0 := randF32(r, T*hs)
					g.c = cloneF32(c0)
					o.gemmStrided(g, T, hs, hs, c.shape)
					got := g.c
					g.c = cloneF32(c0)
					ref.gemmStrided(g, T, hs, hs, c.shape)
					sameBits(t, fmt.Sprintf("T=%d hs=%d triangle %d beta=%v", T, hs, c.shape, beta), got, g.c)
				}
			}
			q := randF32(r, T*hs)
			g := gemmArgs{transB: true, M: T, N: T, K: hs, alpha: 0.125, a: q, b: q}
			g.c = make([]float32, T*T)
			o.gemmStrided(g, hs, hs, T, lowerC)
			got := g.c
			g.c = make([]float32, T*T)
			ref.gemmStrided(g, hs, hs, T, lowerC)
			for i := 0; i < T; i++ { // only the lower triangle is written for sure
				sameBits(t, fmt.Sprintf("T=%d hs=%d lowerC row %d", T, hs, i), got[i*T:i*T+i+1], g.c[i*T:i*T+i+1])
			}
		}
	}
}

// TestPackPanel32 pins the 32-wide packers to plain Go copies, on
// misaligned sources, and checks they write nothing past the panel.
func TestPackPanel32(t *testing.T) {
	if hostISA() < avx2 {
		t.Skip("no AVX2 on this host")
	}
	r := newRand(94)
	for _, kc := range []int{1, 7, 8, 24, 257} {
		lds := 32 + 5 // b (K, N): rows of the panel are lds apart
		src := randF32(r, 1+kc*lds)[1:]
		got, want := make([]float32, kc*32+8), make([]float32, kc*32+8)
		for i := range got {
			got[i], want[i] = float32(math.NaN()), float32(math.NaN())
		}
		packPanel32(&got[0], &src[0], kc, lds)
		for k := 0; k < kc; k++ {
			copy(want[k*32:(k+1)*32], src[k*lds:])
		}
		sameBits(t, fmt.Sprintf("packPanel32 kc=%d", kc), got, want)
		if kc%8 != 0 {
			continue
		}
		lds = kc + 3 // b (N, K): column c of the panel is row c of b
		src = randF32(r, 1+32*lds)[1:]
		packPanel32T(&got[0], &src[0], kc, lds)
		for k := 0; k < kc; k++ {
			for c := 0; c < 32; c++ {
				want[k*32+c] = src[c*lds+k]
			}
		}
		sameBits(t, fmt.Sprintf("packPanel32T kc=%d", kc), got, want)
	}
}
