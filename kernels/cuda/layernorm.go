//go:build cuda

// LayerNorm: forward saving mean and rstd (alone, or fused after the residual
// add before it), and the backward for dinp (accumulated) and dw, db
// (deterministic column sums, no atomics), in float32 or bf16 storage; mean
// and rstd are float32 (kernels.Exact) in both.

package cuda

import (
	"unsafe"

	"gorgonia.org/cu"

	"baton/kernels"
)

// lnRowsPerBlock: layernorm_forward and layernorm_backward_dinp give each row a
// warp, 8 warps to a block.
const lnRowsPerBlock = 8

// colSumTile is the block side of the column-sum kernels
// (layernorm_backward_dwdb_partial, bias_backward_partial): blocks of (32, 32)
// threads, one per 32 columns and chunk of rows, whose rows are split 32 ways
// in a fixed interleave. Their bf16 forms keep one column a thread, unlike the
// row kernels' 128-bit packs: a warp's 64 bytes of a row are two whole 32-byte
// sectors, so no DRAM bandwidth is lost, while 8 columns a thread would cut
// the grid by 8 (gpt2-124m's C = 768 at N = 8192: 96 blocks for an H100's 132
// SMs) unless the chunks shrank, growing the float64 partial sums 8-fold, and
// need a second geometry for the unaligned fallback.
const colSumTile = 32

// colSumChunks splits N rows into R chunks of rpc for the column sums: at
// least colSumMinRows rows a chunk, at most colSumMaxChunks chunks, so that a
// large N fills the GPU with blocks (gpt2-124m's C = 768 alone gives 24) and
// the order of the sums depends on N alone.
func colSumChunks(N int) (rpc, R int) {
	const colSumMinRows, colSumMaxChunks = 256, 64
	rpc = max(colSumMinRows, (N+colSumMaxChunks-1)/colSumMaxChunks)
	return rpc, (N + rpc - 1) / rpc
}

// LayerNormForward: out (N,C) = (inp-mean)*rstd*w + b; saves mean, rstd (N).
func (o *Ops) LayerNormForward(out, mean, rstd, inp, w, b kernels.Buffer, N, C int) {
	const op = "LayerNormForward"
	cl := call{op, "N C", [4]int{N, C}}
	empty := cl.checkDims(N, C)
	cl.checkLen("out", out, N*C, false)
	cl.checkLen("mean", mean, N, false)
	cl.checkLen("rstd", rstd, N, false)
	cl.checkLen("inp", inp, N*C, false)
	cl.checkLen("w", w, C, false)
	cl.checkLen("b", b, C, false)
	cl.exact("mean", mean)
	cl.exact("rstd", rstd)
	kernel := "layernorm_forward"
	if cl.storage("out inp w b", out, inp, w, b) {
		kernel = "layernorm_forward_bf16"
	}
	if empty {
		return
	}
	pOut, pMean, pRstd, pInp, pW, pB := dptr(op, out), dptr(op, mean), dptr(op, rstd), dptr(op, inp), dptr(op, w), dptr(op, b)
	n, c := i32(N), i32(C)
	o.launch(op, kernel, (N+lnRowsPerBlock-1)/lnRowsPerBlock, 32*lnRowsPerBlock, 0,
		unsafe.Pointer(&pOut), unsafe.Pointer(&pMean), unsafe.Pointer(&pRstd), unsafe.Pointer(&pInp),
		unsafe.Pointer(&pW), unsafe.Pointer(&pB), unsafe.Pointer(&n), unsafe.Pointer(&c))
}

// ResidualLayerNormForward: res (N,C) = a + b (res may be a or b); out (N,C) =
// (res-mean)*rstd*w + bias; saves mean, rstd (N). One launch of
// residual_layernorm_forward(_bf16), whose rows are layernorm_forward's taken
// from res as stored (in bf16 the rounded sums): the bits of ResidualForward
// then LayerNormForward.
func (o *Ops) ResidualLayerNormForward(res, out, mean, rstd, a, b, w, bias kernels.Buffer, N, C int) {
	const op = "ResidualLayerNormForward"
	cl := call{op, "N C", [4]int{N, C}}
	empty := cl.checkDims(N, C)
	cl.checkLen("res", res, N*C, false)
	cl.checkLen("out", out, N*C, false)
	cl.checkLen("mean", mean, N, false)
	cl.checkLen("rstd", rstd, N, false)
	cl.checkLen("a", a, N*C, false)
	cl.checkLen("b", b, N*C, false)
	cl.checkLen("w", w, C, false)
	cl.checkLen("bias", bias, C, false)
	cl.exact("mean", mean)
	cl.exact("rstd", rstd)
	kernel := "residual_layernorm_forward"
	if cl.storage("res out a b w bias", res, out, a, b, w, bias) {
		kernel = "residual_layernorm_forward_bf16"
	}
	if empty {
		return
	}
	pRes, pOut, pMean, pRstd := dptr(op, res), dptr(op, out), dptr(op, mean), dptr(op, rstd)
	pA, pB, pW, pBias := dptr(op, a), dptr(op, b), dptr(op, w), dptr(op, bias)
	n, c := i32(N), i32(C)
	o.launch(op, kernel, (N+lnRowsPerBlock-1)/lnRowsPerBlock, 32*lnRowsPerBlock, 0,
		unsafe.Pointer(&pRes), unsafe.Pointer(&pOut), unsafe.Pointer(&pMean), unsafe.Pointer(&pRstd),
		unsafe.Pointer(&pA), unsafe.Pointer(&pB), unsafe.Pointer(&pW), unsafe.Pointer(&pBias),
		unsafe.Pointer(&n), unsafe.Pointer(&c))
}

// LayerNormBackward: dinp (N,C) += (accumulates: the residual stream), dw, db (C) +=.
func (o *Ops) LayerNormBackward(dinp, dw, db, dout, inp, w, mean, rstd kernels.Buffer, N, C int) {
	const op = "LayerNormBackward"
	cl := call{op, "N C", [4]int{N, C}}
	empty := cl.checkDims(N, C)
	cl.checkLen("dinp", dinp, N*C, false)
	cl.checkLen("dw", dw, C, false)
	cl.checkLen("db", db, C, false)
	cl.checkLen("dout", dout, N*C, false)
	cl.checkLen("inp", inp, N*C, false)
	cl.checkLen("w", w, C, false)
	cl.checkLen("mean", mean, N, false)
	cl.checkLen("rstd", rstd, N, false)
	cl.exact("mean", mean)
	cl.exact("rstd", rstd)
	dinpKernel, partial, final := "layernorm_backward_dinp", "layernorm_backward_dwdb_partial", "layernorm_backward_dwdb_final"
	if cl.storage("dinp dw db dout inp w", dinp, dw, db, dout, inp, w) {
		dinpKernel, partial, final = "layernorm_backward_dinp_bf16", "layernorm_backward_dwdb_partial_bf16", "layernorm_backward_dwdb_final_bf16"
	}
	if empty {
		return
	}
	pDinp, pDw, pDb, pDout := dptr(op, dinp), dptr(op, dw), dptr(op, db), dptr(op, dout)
	pInp, pW, pMean, pRstd := dptr(op, inp), dptr(op, w), dptr(op, mean), dptr(op, rstd)
	n, c := i32(N), i32(C)
	o.launch(op, dinpKernel, (N+lnRowsPerBlock-1)/lnRowsPerBlock, 32*lnRowsPerBlock, 0,
		unsafe.Pointer(&pDinp), unsafe.Pointer(&pDout), unsafe.Pointer(&pInp), unsafe.Pointer(&pW),
		unsafe.Pointer(&pMean), unsafe.Pointer(&pRstd), unsafe.Pointer(&n), unsafe.Pointer(&c))
	// dw, db: per-chunk column sums into o's scratch (2·R·C float64), then their sum.
	rpc, R := colSumChunks(N)
	pPw := o.scratchFloats(op, 4*R*C).Ptr
	pPb, rpc32, r32 := pPw+cu.DevicePtr(8*R*C), i32(rpc), i32(R)
	o.launch2(op, partial, (C+colSumTile-1)/colSumTile, R, colSumTile, colSumTile, 0,
		unsafe.Pointer(&pPw), unsafe.Pointer(&pPb), unsafe.Pointer(&pDout), unsafe.Pointer(&pInp),
		unsafe.Pointer(&pMean), unsafe.Pointer(&pRstd), unsafe.Pointer(&n), unsafe.Pointer(&c), unsafe.Pointer(&rpc32))
	o.launch(op, final, eltGrid(C, eltBlock), eltBlock, 0,
		unsafe.Pointer(&pDw), unsafe.Pointer(&pDb), unsafe.Pointer(&pPw), unsafe.Pointer(&pPb),
		unsafe.Pointer(&r32), unsafe.Pointer(&c))
}
