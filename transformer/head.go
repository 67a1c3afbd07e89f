// The head: final LayerNorm, the LM head tied to wte, and the cross-entropy loss.

package transformer

import "baton/kernels"

// headScratch is the head's working memory, reused by every micro-batch: the
// head's backward runs inside its forward, so the (B,T,V) logits live only
// for the duration of one call and never need a stash.
type headScratch struct {
	lnf, lnfMean, lnfRstd kernels.Buffer // (B,T,C), (B,T), (B,T)
	logits                kernels.Buffer // (B,T,V), turned into dlogits in place
	dlnf                  kernels.Buffer // (B,T,C)
	padding               kernels.Buffer // (V): 0, then maskedLogit from the vocabulary's end; nil where it has none
}

// maskedLogit is what a padding id's logit becomes: its probability, e to
// the power of it less the row's largest logit, is exactly 0 in float32
// and bf16 alike, and so is its gradient; being finite, it keeps the
// softmax's subtractions free of infinities.
const maskedLogit = -1e30

// newHeadScratch makes the head's scratch for N rows over V logits, of
// which the ids from vocab on (0: none) are padding (Spec.Vocab).
func newHeadScratch(ops kernels.Ops, N, C, V, vocab int) headScratch {
	h := headScratch{
		lnf: working(ops, N*C), lnfMean: ops.Alloc(N), lnfRstd: ops.Alloc(N),
		logits: working(ops, N*V), dlnf: working(ops, N*C),
	}
	h.padding = newPaddingMask(ops, V, vocab)
	return h
}

// newPaddingMask is the bias (V) that masks the ids from vocab to V, the
// padding of the vocabulary (maskedLogit), or nil where none pads.
func newPaddingMask(ops kernels.Ops, V, vocab int) kernels.Buffer {
	if vocab <= 0 || vocab >= V {
		return nil
	}
	mask := make([]float32, V)
	for j := vocab; j < V; j++ {
		mask[j] = maskedLogit
	}
	b := ops.AllocAs(V, kernels.Weights) // as the layers' biases, which BiasForward adds
	ops.Upload(b, mask)
	return b
}

// headLogits: logits (B,T,V) = ln_f(x) (B,T,C) @ wteᵀ (C,V), the padding
// ids' masked: left out of the softmax, they get no probability and no
// gradient, as llm.c leaves GPT-2's padded rows out. A zero row of wte
// (GPT-2's weights padded to 50,304) would otherwise give logit 0, far
// above a trained model's real logits, and take nearly all the mass.
func headLogits(ops kernels.Ops, h *headScratch, x, lnfW, lnfB, wte kernels.Buffer, N, C, V int) {
	ops.LayerNormForward(h.lnf, h.lnfMean, h.lnfRstd, x, lnfW, lnfB, N, C)
	ops.Gemm(false, true, N, V, C, 1, h.lnf, wte, 0, h.logits)
	if h.padding != nil {
		ops.BiasForward(h.logits, h.padding, N, V)
	}
}

// headForwardBackward computes losses (B,T) of x (B,T,C) against targets (B,T)
// and, at once, dx (B,T,C), the loss gradient scaled by dscale, accumulating
// into dlnfW, dlnfB (C) and dwte (V,C).
func headForwardBackward(ops kernels.Ops, h *headScratch, losses, dx, x, targets, lnfW, lnfB, wte, dlnfW, dlnfB, dwte kernels.Buffer, N, C, V int, dscale float32) {
	headLogits(ops, h, x, lnfW, lnfB, wte, N, C, V)
	ops.CrossEntropyForwardBackward(losses, h.logits, h.logits, targets, N, V, dscale)
	ops.Gemm(false, false, N, C, V, 1, h.logits, wte, 0, h.dlnf) // dlnf (N,C) = dlogits @ wte
	ops.Gemm(true, false, V, C, N, 1, h.logits, h.lnf, 1, dwte)  // dwte (V,C) += dlogitsᵀ @ lnf
	ops.Zero(dx)
	ops.LayerNormBackward(dx, dlnfW, dlnfB, h.dlnf, x, lnfW, h.lnfMean, h.lnfRstd, N, C)
}

// headLoss computes losses (B,T) only, for evaluation: the logits buffer
// receives dlogits with a zero scale, which nothing reads.
func headLoss(ops kernels.Ops, h *headScratch, losses, x, targets, lnfW, lnfB, wte kernels.Buffer, N, C, V int) {
	headLogits(ops, h, x, lnfW, lnfB, wte, N, C, V)
	ops.CrossEntropyForwardBackward(losses, h.logits, h.logits, targets, N, V, 0)
}
