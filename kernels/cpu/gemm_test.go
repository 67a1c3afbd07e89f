// The GEMM's edge cases: empty shapes, misaligned operands, and row subsets giving the full batch's bits.

package cpu

import (
	"fmt"
	"testing"
)

func TestGemmEmpty(t *testing.T) {
	for _, isa := range hostISAs() {
		o := newOps(2, isa)
		c := F32{1, 2, 3, 4, 5, 6}
		o.Gemm(false, false, 2, 3, 0, 1, F32{}, F32{}, 0.5, c) // K = 0: c = beta c
		sameBits(t, isa.String()+" K=0", c, []float32{0.5, 1, 1.5, 2, 2.5, 3})
		o.Gemm(false, false, 0, 3, 4, 1, F32{}, make(F32, 12), 0, F32{})
		o.Gemm(true, true, 2, 0, 4, 1, make(F32, 8), F32{}, 0, F32{})
	}
}

// TestGemmLayout: the same matrices at a misaligned offset give the same bits
// (packing fixes the alignment gonum's dot product would otherwise see).
func TestGemmLayout(t *testing.T) {
	r := newRand(2)
	M, N, K := 33, 70, 301
	for _, isa := range hostISAs() {
		o := newOps(2, isa)
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
			sameBits(t, fmt.Sprintf("%v tA=%v,tB=%v", isa, tr[0], tr[1]), c1, c2)
		}
	}
}

// TestGemmRowSubset: a row of c depends on its row of op(a), on op(b) and on
// K only, not on M or the tile it falls in, so a micro-batch's forward
// matmul reproduces the bits of the full batch's, and one row alone (a
// sampled token's step, gemvVec where b is not transposed) those of its
// row in the batch. K spans two blocks of kcBlock and N an edge tile.
func TestGemmRowSubset(t *testing.T) {
	r := newRand(5)
	M, N, K := 150, 70, 300
	for _, isa := range hostISAs() {
		o := newOps(2, isa)
		for _, tr := range transposes {
			a, b := randF32(r, M*K), randF32(r, K*N)
			full := make(F32, M*N)
			o.Gemm(tr[0], tr[1], M, N, K, 1, a, b, 0, full)
			for _, rows := range [][2]int{{37, 101}, {64, 65}, {149, 150}} {
				i0, i1 := rows[0], rows[1]
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
				sameBits(t, fmt.Sprintf("%v tA=%v,tB=%v rows %d..%d", isa, tr[0], tr[1], i0, i1), part, full[i0*N:i1*N])
			}
		}
	}
}
