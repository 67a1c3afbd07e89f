//go:build cuda

// Gemm: the row-major matrix products of the backend on cuBLAS (kernels.Ops's Gemm).

package cuda

import (
	"fmt"
	"math"

	"gorgonia.org/cu"

	"baton/kernels"
)

// Gemm: c (M,N) = alpha * op(a) @ op(b) + beta * c, row-major and dense, as
// kernels.Ops documents: op(a) is (M,K) (a is (K,M) when transA), op(b) is (K,N)
// ((N,K) when transB). beta == 0 overwrites c without reading it.
//
// cuBLAS is column-major, and the memory of a row-major (R,C) matrix is the
// column-major (C,R) matrix, its transpose. So the call computes cᵀ (N,M) =
// op(b)ᵀ op(a)ᵀ: gemm(transB, transA, N, M, K, alpha, b, ldb, a, lda, beta, c, N) with
// lda = K (M when transA) and ldb = N (K when transB): the row lengths of a and b as
// stored. In FP32 it is cublasSgemm_v2, in TF32 cublasGemmEx on tensor cores.
func (o *Ops) Gemm(transA, transB bool, M, N, K int, alpha float32, a, b kernels.Buffer, beta float32, c kernels.Buffer) {
	const op = "Gemm"
	defer o.enter()()
	shape := func() string {
		return fmt.Sprintf("M=%d N=%d K=%d transA=%v transB=%v %v", M, N, K, transA, transB, o.prec)
	}
	fail := func(format string, args ...any) {
		panic(fmt.Sprintf("cuda: %s: %s (%s)", op, fmt.Sprintf(format, args...), shape()))
	}
	if M < 0 || N < 0 || K < 0 {
		fail("negative size")
	}
	for _, v := range []int{M, N, K} {
		if v > math.MaxInt32 {
			fail("a size exceeds cuBLAS's int32")
		}
	}
	lda, ldb := K, N
	if transA {
		lda = M
	}
	if transB {
		ldb = K
	}
	pa := gemmOperand(op, "a", a, M*K, fail)
	pb := gemmOperand(op, "b", b, K*N, fail)
	pc := gemmOperand(op, "c", c, M*N, fail)
	if M == 0 || N == 0 {
		return
	}
	// Column-major: cᵀ (N,M) = op(b)ᵀ (N,K) · op(a)ᵀ (K,M).
	var err error
	if K == 0 || alpha == 0 {
		// c = beta * c, a and b unread, as the CPU reference does; not left to cuBLAS,
		// which need not support K == 0 and might multiply NaNs in a or b by zero.
		err = o.scaleMatrix(beta, pc, M, N)
	} else {
		err = o.blas.gemm(transB, transA, N, M, K, alpha, pb, max(ldb, 1), pa, max(lda, 1), beta, pc, N)
	}
	if err != nil {
		panic(fmt.Errorf("cuda: %s (%s): %w", op, shape(), err))
	}
}

// scaleMatrix sets c = beta * c for a dense (M,N) matrix: beta == 0 writes
// zeros (NaNs in c do not survive), beta == 1 does nothing.
func (o *Ops) scaleMatrix(beta float32, c cu.DevicePtr, M, N int) error {
	switch {
	case beta == 1:
		return nil
	case beta == 0:
		if err := cu.MemsetD32Async(c, 0, int64(M*N), o.stream); err != nil {
			return fmt.Errorf("cuMemsetD32Async: %w", err)
		}
		return nil
	case M*N <= math.MaxInt32:
		return o.blas.scal(M*N, beta, c)
	}
	for r := 0; r < M; r++ {
		if err := o.blas.scal(N, beta, c+cu.DevicePtr(4*r*N)); err != nil {
			return err
		}
	}
	return nil
}

// gemmOperand checks that buffer x (a float32 Buf) holds at least need
// elements, and returns its device pointer.
func gemmOperand(op, name string, x kernels.Buffer, need int, fail func(string, ...any)) cu.DevicePtr {
	buf := asBuf(op, x)
	if buf.Int {
		fail("%s is an int32 buffer", name)
	}
	if buf.N < need {
		fail("%s has %d elements, needs %d", name, buf.N, need)
	}
	return buf.Ptr
}
