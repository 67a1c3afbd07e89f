//go:build cuda

// Cross-entropy: fused softmax, per-row loss and logit gradients (one block per
// row), on float32 or bf16 logits; the losses and the softmax statistics are
// float32 in both.

package cuda

import (
	"unsafe"

	"baton/kernels"
)

// ceBlock returns the block size for rows of V logits: V rounded up to a warp,
// at most 1024. It depends on V alone; the summation order depends on it and
// on the path src/crossentropy.cu takes per call: where V is a multiple of 4
// (8 for bf16) and logits and dlogits are 16-byte aligned, thread i folds
// elements 4i..4i+3 (8i..8i+7) of each stride, otherwise element i, so the
// same logits in a view at another alignment may round differently.
func ceBlock(V int) int {
	return min(1024, (V+31)/32*32)
}

// CrossEntropyForwardBackward: losses (N) = -log softmax(logits)[target] and
// dlogits (N,V) = (softmax - onehot(target)) * dscale; dlogits may be logits,
// and dscale 0 writes zeros. A target outside [0, V) cannot panic on the
// device: its loss is NaN.
func (o *Ops) CrossEntropyForwardBackward(losses, dlogits, logits, targets kernels.Buffer, N, V int, dscale float32) {
	const op = "CrossEntropyForwardBackward"
	cl := call{op, "N V", [4]int{N, V}}
	empty := cl.checkDims(N, V)
	cl.checkLen("losses", losses, N, false)
	cl.checkLen("dlogits", dlogits, N*V, false)
	cl.checkLen("logits", logits, N*V, false)
	cl.checkLen("targets", targets, N, true)
	cl.exact("losses", losses)
	kernel := "crossentropy_forward_backward"
	if cl.storage("dlogits logits", dlogits, logits) {
		kernel = "crossentropy_forward_backward_bf16"
	}
	if empty {
		return
	}
	pLosses, pDlogits, pLogits, pTargets := dptr(op, losses), dptr(op, dlogits), dptr(op, logits), dptr(op, targets)
	n, v, ds := i32(N), i32(V), dscale
	o.launch(op, kernel, N, ceBlock(V), 0,
		unsafe.Pointer(&pLosses), unsafe.Pointer(&pDlogits), unsafe.Pointer(&pLogits), unsafe.Pointer(&pTargets),
		unsafe.Pointer(&n), unsafe.Pointer(&v), unsafe.Pointer(&ds))
}
