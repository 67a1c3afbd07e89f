// Gemm: the entry point (shapes, the cases without products, the choice of path) and the operands both paths share.

package cpu

import (
	"fmt"

	"baton/kernels"
)

// Two paths compute the products, chosen by the Ops value's instruction set
// (isa.go): the packed path (gemm_packed_amd64.go) around an AVX2+FMA
// micro-kernel in assembly (or an AVX-512F one with the same bits,
// gemm_kernel_amd64.go), and the generic path (gemm_generic.go) around
// gonum's serial kernel, the portable fallback and the reference. Each is deterministic on
// its own terms: every element of C sums its K terms in an order fixed by K
// alone, so neither the worker count nor M, nor where the element's tile
// falls, changes a bit. The two paths round differently (FMA against
// separate multiply and add), so a run keeps one path throughout.

// gemmArgs is one Gemm call: c (M,N) = alpha * op(a) @ op(b) + beta * c.
type gemmArgs struct {
	transA, transB bool
	M, N, K        int
	alpha, beta    float32
	a, b, c        []float32
}

// Gemm: c (M,N) = alpha * op(a) @ op(b) + beta * c. beta == 0 overwrites c
// without reading it, so NaNs in c do not survive. c must not overlap a or b.
func (o *Ops) Gemm(transA, transB bool, M, N, K int, alpha float32, a, b kernels.Buffer, beta float32, c kernels.Buffer) {
	if M < 0 || N < 0 || K < 0 {
		panic(fmt.Sprintf("cpu: Gemm: negative size M=%d N=%d K=%d", M, N, K))
	}
	g := gemmArgs{
		transA: transA, transB: transB, M: M, N: N, K: K, alpha: alpha, beta: beta,
		a: need("Gemm", "a", a, M*K), // (M,K), or (K,M) when transA
		b: need("Gemm", "b", b, K*N), // (K,N), or (N,K) when transB
		c: need("Gemm", "c", c, M*N), // (M,N)
	}
	switch {
	case M == 0 || N == 0:
	case K == 0 || alpha == 0: // no products: as in BLAS, a and b are not read
		scaleC(g.c, beta)
	case o.simd != nil && o.simd.gemv != nil && gemvFits(g):
		o.simd.gemv(o, g)
	case o.simd != nil:
		o.simd.gemm(o, g)
	default:
		o.gemmGeneric(g)
	}
}

// gemvFits says whether a SIMD set's gemv takes a single-row Gemm: b
// transposed needs K in whole groups of 8 (gemvT8's transposes). Here,
// not beside the amd64 gemv, so that Gemm builds everywhere.
func gemvFits(g gemmArgs) bool { return g.M == 1 && (!g.transB || g.K%8 == 0) }

// scaleC: c *= beta, where beta == 0 clears c without reading it.
func scaleC(c []float32, beta float32) {
	switch beta {
	case 0:
		clear(c)
	case 1:
	default:
		for i := range c {
			c[i] *= beta
		}
	}
}
