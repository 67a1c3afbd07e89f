//go:build cuda

// Gemm: the row-major matrix products of the backend on cuBLAS (kernels.Ops's Gemm).

package cuda

import (
	"errors"
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
//
// bf16 operands (kernels.Working and kernels.Weights under BF16): a, b and c must all
// be bf16 (a mix panics), and the call is cublasGemmEx on CUDA_R_16BF A, B and C with
// CUBLAS_COMPUTE_32F and float32 alpha and beta: products of bf16 values summed in
// float32, alpha and beta applied in float32 to the sum and to the old c widened, the
// result rounded to bf16 once.
func (o *Ops) Gemm(transA, transB bool, M, N, K int, alpha float32, a, b kernels.Buffer, beta float32, c kernels.Buffer) {
	const op = "Gemm"
	defer o.enter()()
	shape, fail, lda, ldb := o.gemmShape(op, transA, transB, M, N, K)
	pa := gemmOperand(op, "a", a, M*K, fail)
	pb := gemmOperand(op, "b", b, K*N, fail)
	pc := gemmOperand(op, "c", c, M*N, fail)
	bf16 := gemmStorage(a, b, c, fail)
	if M == 0 || N == 0 {
		return
	}
	// Column-major: cᵀ (N,M) = op(b)ᵀ (N,K) · op(a)ᵀ (K,M).
	var err error
	if K == 0 || alpha == 0 {
		// c = beta * c, a and b unread, as the CPU reference does; not left to cuBLAS,
		// which need not support K == 0 and might multiply NaNs in a or b by zero.
		if bf16 {
			err = o.scaleMatrixBF16(op, beta, pc, M, N)
		} else {
			err = o.scaleMatrix(beta, pc, M, N)
		}
	} else if bf16 {
		err = o.blas.gemmBF16(transB, transA, N, M, K, alpha, pb, max(ldb, 1), pa, max(lda, 1), beta, pc, N)
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

// scaleMatrixBF16 is scaleMatrix for a bf16 c: beta == 0 writes zeros, beta == 1
// does nothing, any other beta widens c into float32 scratch, scales it there
// (cublasSscal_v2) and rounds it back to bf16, as a bf16 GEMM applies beta.
func (o *Ops) scaleMatrixBF16(op string, beta float32, c cu.DevicePtr, M, N int) error {
	switch beta {
	case 1:
		return nil
	case 0:
		if err := cu.MemsetD8Async(c, 0, 2*int64(M*N), o.stream); err != nil {
			return fmt.Errorf("cuMemsetD8Async: %w", err)
		}
		return nil
	}
	tmp := o.scratchFloats(op, M*N)
	o.convert(op, "bf16_to_f32_n", tmp.Ptr, c, M*N)
	if err := o.scaleMatrix(beta, tmp.Ptr, M, N); err != nil {
		return err
	}
	o.convert(op, "f32_to_bf16_n", c, tmp.Ptr, M*N)
	return nil
}

// gemmStorage reports whether a, b and c (Bufs, checked by gemmOperand) are bf16, and
// fails on a mix: cuBLAS takes one storage for the three here.
func gemmStorage(a, b, c kernels.Buffer, fail func(string, ...any)) (bf16 bool) {
	ka, kb, kc := a.(Buf), b.(Buf), c.(Buf)
	if ka.BF16 != kb.BF16 || ka.BF16 != kc.BF16 {
		fail("operands of mixed storage: a is %s, b is %s, c is %s (all float32 or all bf16)", ka.kind(), kb.kind(), kc.kind())
	}
	return ka.BF16
}

// gemmOperand checks that buffer x (a float32 or bf16 Buf) holds at least need
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

// ltWorkspaceFloats is the workspace of a cuBLASLt matmul (o's scratch): 32 MiB, what
// cuBLASLt's fastest Hopper kernels ask for.
const ltWorkspaceFloats = 8 << 20

// GemmBias: c (M,N) = op(a) @ op(b) + bias, bias (N) added to every row, as one
// cuBLASLt matmul with the BIAS epilogue. Unfused it is Gemm(transA, transB, M, N, K,
// 1, a, b, 0, c) then BiasForward(c, bias, M, N), which it runs where cuBLASLt is
// absent, has no algorithm for the operands, or bias is not 16-byte aligned. a, b,
// bias and c share one storage (float32, or bf16: the bias a parameter's bf16 copy);
// the sum is float32, rounded to c's storage once (the unfused form rounds a bf16 c
// twice: after the product and after the bias).
func (o *Ops) GemmBias(transA, transB bool, M, N, K int, a, b, bias, c kernels.Buffer) {
	o.gemmEpilogue("GemmBias", transA, transB, M, N, K, a, b, bias, nil, c)
}

// GemmBiasGELU: pre (M,N) = op(a) @ op(b) + bias, c (M,N) = GELU(pre) (the tanh form,
// GeluForward's), as one cuBLASLt matmul with the GELU_AUX_BIAS epilogue (pre is its
// auxiliary output, which GeluBackward needs). Unfused: Gemm into pre, BiasForward(pre,
// bias, M, N), GeluForward(c, pre, M*N), run where cuBLASLt cannot (cuBLASLt needs N
// a multiple of 8 for pre's rows, and pre 16-byte aligned). Storage as GemmBias; fused, GELU is taken of the
// float32 sum, before pre is rounded to its storage.
func (o *Ops) GemmBiasGELU(transA, transB bool, M, N, K int, a, b, bias, pre, c kernels.Buffer) {
	o.gemmEpilogue("GemmBiasGELU", transA, transB, M, N, K, a, b, bias, pre, c)
}

// GemmDGELU: dpre (M,N) = (op(a) @ op(b)) * GELU'(pre), the backward through a
// GemmBiasGELU's GELU of the product that gives its output's gradient (dout @ wᵀ of
// the next matmul), as one cuBLASLt matmul with the DGELU epilogue (pre its auxiliary
// input). Unfused: Gemm into dpre, then GeluBackward(dpre, pre, dpre, M*N), run where
// cuBLASLt cannot (N not a multiple of 8, no algorithm). Storage as GemmBias.
func (o *Ops) GemmDGELU(transA, transB bool, M, N, K int, a, b, pre, dpre kernels.Buffer) {
	o.gemmEpilogue("GemmDGELU", transA, transB, M, N, K, a, b, nil, pre, dpre)
}

// gemmEpilogue is GemmBias (pre nil), GemmBiasGELU, and GemmDGELU (bias nil, pre an input).
func (o *Ops) gemmEpilogue(op string, transA, transB bool, M, N, K int, a, b, bias, pre, c kernels.Buffer) {
	defer o.enter()()
	shape, fail, lda, ldb := o.gemmShape(op, transA, transB, M, N, K)
	pa := gemmOperand(op, "a", a, M*K, fail)
	pb := gemmOperand(op, "b", b, K*N, fail)
	cName := "c"
	if bias == nil {
		cName = "dpre"
	}
	pc := gemmOperand(op, cName, c, M*N, fail)
	bf16 := gemmStorage(a, b, c, fail)
	epi, pBias, pPre := ltEpilogueDGelu, cu.DevicePtr(0), cu.DevicePtr(0)
	if bias != nil {
		pBias = gemmOperand(op, "bias", bias, N, fail)
		if bias.(Buf).BF16 != bf16 {
			fail("bias is %s, unlike %s (%s)", bias.(Buf).kind(), cName, c.(Buf).kind())
		}
		epi = ltEpilogueBias
	}
	if pre != nil {
		pPre = gemmOperand(op, "pre", pre, M*N, fail)
		if pre.(Buf).BF16 != bf16 {
			fail("pre is %s, unlike %s (%s)", pre.(Buf).kind(), cName, c.(Buf).kind())
		}
		if bias != nil {
			epi = ltEpilogueGeluAuxBias
		}
	}
	if M == 0 || N == 0 {
		return
	}
	dtype := cudaR32F
	if bf16 {
		dtype = cudaR16BF
	}
	var err error
	// cuBLASLt's GELU epilogues want pre's rows a multiple of 8 elements and pre 16-byte
	// aligned, and its bias epilogues the bias 16-byte aligned (a view into a parameter
	// may not be: a GPU then faults on a misaligned address); TF32's compute type is not
	// the one asked of cuBLASLt here.
	fused := K > 0 && (pre == nil || (N%8 == 0 && pPre%16 == 0)) && pBias%16 == 0 && o.prec != kernels.TF32
	if fused {
		ws := o.scratchFloats(op, ltWorkspaceFloats)
		// Column-major, as Gemm: cᵀ (N,M) = op(b)ᵀ op(a)ᵀ, the bias along cᵀ's rows.
		err = o.blas.ltMatmul(transB, transA, N, M, K, 1, pb, max(ldb, 1), pa, max(lda, 1), 0, pc, N, dtype, epi,
			pBias, pPre, N, ws.Ptr, 4*ltWorkspaceFloats)
		if errors.Is(err, errNoLtAlgo) {
			fused, err = false, nil
		}
	}
	if err != nil {
		panic(fmt.Errorf("cuda: %s (%s): %w", op, shape(), err))
	}
	if fused {
		return
	}
	switch {
	case bias == nil: // GemmDGELU
		o.Gemm(transA, transB, M, N, K, 1, a, b, 0, c)
		o.GeluBackward(c, pre, c, M*N)
		return
	case pre == nil:
		o.Gemm(transA, transB, M, N, K, 1, a, b, 0, c)
		o.BiasForward(c, bias, M, N)
		return
	}
	o.Gemm(transA, transB, M, N, K, 1, a, b, 0, pre)
	o.BiasForward(pre, bias, M, N)
	o.GeluForward(c, pre, M*N)
}

// gemmShape checks a product's sizes, panicking through the fail it returns (which
// names op and the shape, as shape() formats it), and gives the row-major leading
// dimensions of a and b.
func (o *Ops) gemmShape(op string, transA, transB bool, M, N, K int) (shape func() string, fail func(string, ...any), lda, ldb int) {
	shape = func() string {
		return fmt.Sprintf("M=%d N=%d K=%d transA=%v transB=%v %v", M, N, K, transA, transB, o.prec)
	}
	fail = func(format string, args ...any) {
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
	lda, ldb = K, N
	if transA {
		lda = M
	}
	if transB {
		ldb = K
	}
	return shape, fail, lda, ldb
}
