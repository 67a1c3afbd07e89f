//go:build cuda

// Gemm: the row-major matrix products of the backend on cuBLAS: kernels.Ops's Gemm,
// and the strided batched form the TF32 attention backward uses.

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
	lda, ldb := K, N
	if transA {
		lda = M
	}
	if transB {
		ldb = K
	}
	o.gemmStridedBatched("Gemm", transA, transB, M, N, K, alpha, a, lda, 0, b, ldb, 0, beta, c, N, 0, 1)
}

// gemmStridedBatched runs batch independent Gemms: for i in [0, batch),
// c[i*strideC:] (M,N) = alpha * op(a[i*strideA:]) @ op(b[i*strideB:]) + beta *
// c[i*strideC:], shapes as in Gemm, strides in elements (0 for a or b reuses one
// matrix for every i), on matrices that need not be dense: lda, ldb, ldc
// are the row strides (in elements) of a, b, c as stored (row-major), at least their
// row lengths: a stored (M,K), or (K,M) when transA, takes lda >= K (M); b stored (K,N),
// or (N,K) when transB, takes ldb >= N (K); c (M,N) takes ldc >= N. So a head's
// columns of a (B,T,3C) activation are a matrix with ld 3C. batch == 1 is a plain GEMM
// call (cublasSgemm_v2 / cublasGemmEx), more a batched one.
func (o *Ops) gemmStridedBatched(op string, transA, transB bool, M, N, K int, alpha float32,
	a kernels.Buffer, lda, strideA int, b kernels.Buffer, ldb, strideB int,
	beta float32, c kernels.Buffer, ldc, strideC int, batch int) {
	defer o.enter()()
	shape := func() string {
		s := fmt.Sprintf("M=%d N=%d K=%d transA=%v transB=%v", M, N, K, transA, transB)
		if batch != 1 || strideA != 0 || strideB != 0 || strideC != 0 {
			s += fmt.Sprintf(" batch=%d strides=(%d,%d,%d)", batch, strideA, strideB, strideC)
		}
		return s + fmt.Sprintf(" lds=(%d,%d,%d) %v", lda, ldb, ldc, o.prec)
	}
	fail := func(format string, args ...any) {
		panic(fmt.Sprintf("cuda: %s: %s (%s)", op, fmt.Sprintf(format, args...), shape()))
	}
	if M < 0 || N < 0 || K < 0 || batch < 0 {
		fail("negative size")
	}
	for _, v := range []int{M, N, K, lda, ldb, ldc, batch} {
		if v > math.MaxInt32 {
			fail("a size exceeds cuBLAS's int32")
		}
	}
	rowsA, colsA := M, K
	if transA {
		rowsA, colsA = K, M
	}
	rowsB, colsB := K, N
	if transB {
		rowsB, colsB = N, K
	}
	if lda < colsA || ldb < colsB || ldc < N {
		fail("a leading dimension is shorter than its row")
	}
	if strideA < 0 || strideB < 0 || strideC < 0 {
		fail("negative stride")
	}
	extC := extent(M, N, ldc)
	sideBySide := strideC >= N && (batch-1)*strideC+N <= ldc // column blocks of the same rows: heads of a (T, 3C) activation
	if batch > 1 && strideC < extC && extC > 0 && !sideBySide {
		fail("the outputs of the batch overlap (strideC %d < %d)", strideC, extC)
	}
	pa := gemmOperand(op, "a", a, batch, strideA, extent(rowsA, colsA, lda), fail)
	pb := gemmOperand(op, "b", b, batch, strideB, extent(rowsB, colsB, ldb), fail)
	pc := gemmOperand(op, "c", c, batch, strideC, extC, fail)
	if M == 0 || N == 0 || batch == 0 {
		return
	}
	// Column-major: cᵀ (N,M) = op(b)ᵀ (N,K) · op(a)ᵀ (K,M).
	var err error
	if K == 0 || alpha == 0 {
		// c = beta * c, a and b unread, as the CPU reference does; not left to cuBLAS,
		// which need not support K == 0 and might multiply NaNs in a or b by zero.
		err = o.scaleMatrices(beta, pc, M, N, ldc, strideC, batch)
	} else if batch == 1 {
		err = o.blas.gemm(transB, transA, N, M, K, alpha, pb, max(ldb, 1), pa, max(lda, 1), beta, pc, max(ldc, 1))
	} else {
		err = o.blas.gemmBatched(transB, transA, N, M, K, alpha, pb, max(ldb, 1), strideB, pa, max(lda, 1), strideA,
			beta, pc, max(ldc, 1), strideC, batch)
	}
	if err != nil {
		panic(fmt.Errorf("cuda: %s (%s): %w", op, shape(), err))
	}
}

// scaleMatrices sets c_i = beta * c_i for batch (M,N) matrices with row stride ldc,
// strideC apart: beta == 0 writes zeros (NaNs in c do not survive), beta == 1 does nothing.
func (o *Ops) scaleMatrices(beta float32, c cu.DevicePtr, M, N, ldc, strideC, batch int) error {
	if beta == 1 {
		return nil
	}
	for i := 0; i < batch; i++ {
		ci := c + cu.DevicePtr(4*i*strideC)
		if beta == 0 {
			var err error
			if ldc == N {
				err = cu.MemsetD32Async(ci, 0, int64(M*N), o.stream)
			} else {
				err = cu.MemsetD2D32Async(ci, int64(4*ldc), 0, int64(N), int64(M), o.stream)
			}
			if err != nil {
				return fmt.Errorf("cuMemsetD32Async: %w", err)
			}
			continue
		}
		if ldc == N && M*N <= math.MaxInt32 {
			if err := o.blas.scal(M*N, beta, ci); err != nil {
				return err
			}
			continue
		}
		for r := 0; r < M; r++ {
			if err := o.blas.scal(N, beta, ci+cu.DevicePtr(4*r*ldc)); err != nil {
				return err
			}
		}
	}
	return nil
}

// extent is the number of elements a row-major (rows, cols) matrix with row stride ld spans.
func extent(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

// gemmOperand checks that buffer x (a float32 Buf) holds batch matrices of ext elements
// stride apart, and returns its device pointer.
func gemmOperand(op, name string, x kernels.Buffer, batch, stride, ext int, fail func(string, ...any)) cu.DevicePtr {
	buf := asBuf(op, x)
	if buf.Int {
		fail("%s is an int32 buffer", name)
	}
	need := 0
	if batch > 0 && ext > 0 {
		need = (batch-1)*stride + ext
	}
	if buf.N < need {
		fail("%s has %d elements, needs %d", name, buf.N, need)
	}
	return buf.Ptr
}
