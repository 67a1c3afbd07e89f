//go:build cuda

// Bias: the broadcast add of a linear layer's bias, and its backward
// (deterministic column sums, no atomics), in float32 or bf16 storage.

package cuda

import (
	"unsafe"

	"baton/kernels"
)

// BiasForward: out (N,OC) += bias (OC) on every row.
func (o *Ops) BiasForward(out, bias kernels.Buffer, N, OC int) {
	const op = "BiasForward"
	cl := call{op, "N OC", [4]int{N, OC}}
	empty := cl.checkDims(N, OC)
	cl.checkLen("out", out, N*OC, false)
	cl.checkLen("bias", bias, OC, false)
	kernel, grid := "bias_forward", eltGrid(N*OC, eltBlock)
	if cl.storage("out bias", out, bias) {
		kernel, grid = "bias_forward_bf16", eltGridBF16(N*OC)
	}
	if empty {
		return
	}
	pOut, pBias, n, oc := dptr(op, out), dptr(op, bias), i32(N), i32(OC)
	o.launch(op, kernel, grid, eltBlock, 0,
		unsafe.Pointer(&pOut), unsafe.Pointer(&pBias), unsafe.Pointer(&n), unsafe.Pointer(&oc))
}

// BiasBackward: dbias (OC) += column sums of dout (N,OC), summed in float64
// in an order that depends on N alone (added to a bf16 dbias in float32 and
// rounded once).
func (o *Ops) BiasBackward(dbias, dout kernels.Buffer, N, OC int) {
	const op = "BiasBackward"
	cl := call{op, "N OC", [4]int{N, OC}}
	empty := cl.checkDims(N, OC)
	cl.checkLen("dbias", dbias, OC, false)
	cl.checkLen("dout", dout, N*OC, false)
	partial, final := "bias_backward_partial", "bias_backward_final"
	if cl.storage("dbias dout", dbias, dout) {
		partial, final = "bias_backward_partial_bf16", "bias_backward_final_bf16"
	}
	if empty {
		return
	}
	pDbias, pDout, n, oc := dptr(op, dbias), dptr(op, dout), i32(N), i32(OC)
	// Per-chunk column sums into o's scratch (R·OC float64), then their sum.
	rpc, R := colSumChunks(N)
	pPart, rpc32, r32 := o.scratchFloats(op, 2*R*OC).Ptr, i32(rpc), i32(R)
	o.launch2(op, partial, (OC+colSumTile-1)/colSumTile, R, colSumTile, colSumTile, 0,
		unsafe.Pointer(&pPart), unsafe.Pointer(&pDout), unsafe.Pointer(&n), unsafe.Pointer(&oc), unsafe.Pointer(&rpc32))
	o.launch(op, final, eltGrid(OC, eltBlock), eltBlock, 0,
		unsafe.Pointer(&pDbias), unsafe.Pointer(&pPart), unsafe.Pointer(&r32), unsafe.Pointer(&oc))
}
