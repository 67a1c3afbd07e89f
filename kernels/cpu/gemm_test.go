package cpu

import (
	"fmt"
	"math"
	"testing"
)

func TestGemmMatchesNaive(t *testing.T) {
	r := newRand(1)
	o := New()
	sizes := [][3]int{{7, 13, 5}, {1, 1, 1}, {3, 1, 9}, {70, 130, 300}} // the last crosses every block edge
	scalars := [][2]float32{{1, 0}, {0.5, 2}, {-1.5, 1}, {0, 0.5}, {0, 0}}
	for _, s := range sizes {
		M, N, K := s[0], s[1], s[2]
		for _, tr := range transposes {
			for _, ab := range scalars {
				name := fmt.Sprintf("%dx%dx%d/tA=%v,tB=%v/alpha=%v,beta=%v", M, N, K, tr[0], tr[1], ab[0], ab[1])
				a, b := randF32(r, M*K), randF32(r, K*N)
				c := randF32(r, M*N)
				if ab[1] == 0 {
					for i := range c {
						c[i] = float32(math.NaN()) // beta == 0 must not read c
					}
				}
				want := naiveGemm(tr[0], tr[1], M, N, K, ab[0], a, b, ab[1], c)
				o.Gemm(tr[0], tr[1], M, N, K, ab[0], a, b, ab[1], c)
				checkClose(t, name, c, want, fwdTol)
			}
		}
	}
}

func TestGemmEmpty(t *testing.T) {
	o := New()
	c := F32{1, 2, 3, 4, 5, 6}
	o.Gemm(false, false, 2, 3, 0, 1, F32{}, F32{}, 0.5, c) // K = 0: c = beta c
	sameBits(t, "K=0", c, []float32{0.5, 1, 1.5, 2, 2.5, 3})
	o.Gemm(false, false, 0, 3, 4, 1, F32{}, make(F32, 12), 0, F32{})
	o.Gemm(true, true, 2, 0, 4, 1, make(F32, 8), F32{}, 0, F32{})
}

// TestGemmLayout: the same matrices at a misaligned offset give the same bits
// (packing fixes the alignment gonum's dot product would otherwise see).
func TestGemmLayout(t *testing.T) {
	r := newRand(2)
	o := New()
	M, N, K := 33, 70, 301
	for _, tr := range transposes {
		a, b := randF32(r, M*K), randF32(r, K*N)
		c1 := make(F32, M*N)
		o.Gemm(tr[0], tr[1], M, N, K, 1, a, b, 0, c1)
		abuf, bbuf := o.Alloc(M*K+3), o.Alloc(K*N+1)
		a2, b2 := o.Slice(abuf, 3, M*K), o.Slice(bbuf, 1, K*N)
		o.Upload(a2, a)
		o.Upload(b2, b)
		c2 := make(F32, M*N)
		o.Gemm(tr[0], tr[1], M, N, K, 1, a2, b2, 0, c2)
		sameBits(t, fmt.Sprintf("tA=%v,tB=%v", tr[0], tr[1]), c1, c2)
	}
}

// TestLinearBackward checks the Gemm calls that backpropagate through
// out = op(A) op(B), for every transpose case, against finite differences.
func TestLinearBackward(t *testing.T) {
	r := newRand(3)
	o := New()
	M, N, K := 5, 7, 6
	for _, tr := range transposes {
		tA, tB := tr[0], tr[1]
		name := fmt.Sprintf("tA=%v,tB=%v", tA, tB)
		a, b := randF32(r, M*K), randF32(r, K*N)
		R := randF32(r, M*N)
		out := make(F32, M*N)
		o.Gemm(tA, tB, M, N, K, 1, a, b, 0, out)
		a64, b64, R64 := f64(a), f64(b), f64(R)
		loss := func() float64 { return dotR(naiveGemm64(tA, tB, M, N, K, 1, a64, b64, 0, nil), R64) }
		checkClose(t, name+"/out", out, naiveGemm64(tA, tB, M, N, K, 1, a64, b64, 0, nil), fwdTol)

		// dout = R. The gradients of op(A) (M,K) and op(B) (K,N) are
		// dout op(B)ᵀ and op(A)ᵀ dout; stored in A's and B's own layouts.
		da, db := make(F32, M*K), make(F32, K*N)
		switch {
		case !tA && !tB:
			o.Gemm(false, true, M, K, N, 1, R, b, 0, da) // dA (M,K) = dout Bᵀ
			o.Gemm(true, false, K, N, M, 1, a, R, 0, db) // dB (K,N) = Aᵀ dout
		case tA && !tB:
			o.Gemm(false, true, K, M, N, 1, b, R, 0, da)  // dA (K,M) = B doutᵀ
			o.Gemm(false, false, K, N, M, 1, a, R, 0, db) // dB (K,N) = A dout
		case !tA && tB:
			o.Gemm(false, false, M, K, N, 1, R, b, 0, da) // dA (M,K) = dout B
			o.Gemm(true, false, N, K, M, 1, R, a, 0, db)  // dB (N,K) = doutᵀ A
		case tA && tB:
			o.Gemm(true, true, K, M, N, 1, b, R, 0, da) // dA (K,M) = Bᵀ doutᵀ
			o.Gemm(true, true, N, K, M, 1, R, a, 0, db) // dB (N,K) = doutᵀ Aᵀ
		}
		checkClose(t, name+"/dA", da, fdGrad(a64, loss), bwdTol)
		checkClose(t, name+"/dB", db, fdGrad(b64, loss), bwdTol)
	}
}

func TestBias(t *testing.T) {
	r := newRand(4)
	o := New()
	N, OC := 9, 11
	x, bias, R := randF32(r, N*OC), randF32(r, OC), randF32(r, N*OC)
	x64, bias64, R64 := f64(x), f64(bias), f64(R)
	ref := func() []float64 {
		out := make([]float64, N*OC)
		for n := 0; n < N; n++ {
			for j := 0; j < OC; j++ {
				out[n*OC+j] = x64[n*OC+j] + bias64[j]
			}
		}
		return out
	}
	out := cloneF32(x)
	o.BiasForward(out, bias, N, OC)
	checkClose(t, "BiasForward", out, ref(), fwdTol)

	dbias := randF32(r, OC)
	prior := cloneF32(dbias)
	o.BiasBackward(dbias, R, N, OC)
	checkClose(t, "BiasBackward (accumulated)", dbias, addInto(prior, fdGrad(bias64, func() float64 { return dotR(ref(), R64) })), bwdTol)
}

// TestGemmRowSubset: a row of c depends on its row of op(a), on op(b) and on
// K only, not on M or the tile it falls in, so a micro-batch's forward
// matmul reproduces the bits of the full batch's.
func TestGemmRowSubset(t *testing.T) {
	r := newRand(5)
	o := New()
	M, N, K, i0, i1 := 150, 70, 300, 37, 101
	for _, tr := range transposes {
		a, b := randF32(r, M*K), randF32(r, K*N)
		full := make(F32, M*N)
		o.Gemm(tr[0], tr[1], M, N, K, 1, a, b, 0, full)
		m := i1 - i0
		sub := make(F32, m*K) // rows i0..i1 of op(a), in a's own layout
		for i := 0; i < m; i++ {
			for k := 0; k < K; k++ {
				if tr[0] {
					sub[k*m+i] = a[k*M+i0+i]
				} else {
					sub[i*K+k] = a[(i0+i)*K+k]
				}
			}
		}
		part := make(F32, m*N)
		o.Gemm(tr[0], tr[1], m, N, K, 1, sub, b, 0, part)
		sameBits(t, fmt.Sprintf("tA=%v,tB=%v", tr[0], tr[1]), part, full[i0*N:i1*N])
	}
}
