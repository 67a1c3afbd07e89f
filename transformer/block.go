// One pre-LayerNorm decoder block: forward and backward.

package transformer

import (
	"baton/kernels"
	"baton/model"
)

// blockActs are what one block keeps of one micro-batch for its backward
// pass, as its Spec's model.Recompute says: everything (none), everything
// but fchGelu (gelu), or only out (block). model.Config.BlockActElems counts them.
type blockActs struct {
	ln1, ln1Mean, ln1Rstd kernels.Buffer // (B,T,C), (B,T), (B,T)
	qkv                   kernels.Buffer // (B,T,3C)
	atty                  kernels.Buffer // (B,T,C)
	lse                   kernels.Buffer // (B,NH,T)
	res2                  kernels.Buffer // (B,T,C) input + attention
	ln2, ln2Mean, ln2Rstd kernels.Buffer // (B,T,C), (B,T), (B,T)
	fch, fchGelu          kernels.Buffer // (B,T,4C)
	out                   kernels.Buffer // (B,T,C) res2 + MLP: the next block's input
}

// newBlockActs allocates one block's stash under r.
func newBlockActs(ops kernels.Ops, d dims, r model.Recompute) blockActs {
	var a blockActs
	if r != model.RecomputeBlock {
		a = newInnerActs(ops, d, r == model.RecomputeNone)
	}
	a.out = working(ops, d.N()*d.C)
	return a
}

// newInnerActs allocates every blockActs buffer but out, and fchGelu only
// when withGelu: all a block's backward reads.
func newInnerActs(ops kernels.Ops, d dims, withGelu bool) blockActs {
	N, C := d.N(), d.C
	a := blockActs{
		ln1: working(ops, N*C), ln1Mean: ops.Alloc(N), ln1Rstd: ops.Alloc(N),
		qkv: working(ops, N*3*C), atty: working(ops, N*C), lse: ops.Alloc(d.B * d.NH * d.T),
		res2: working(ops, N*C),
		ln2:  working(ops, N*C), ln2Mean: ops.Alloc(N), ln2Rstd: ops.Alloc(N),
		fch: working(ops, N*4*C),
	}
	if withGelu {
		a.fchGelu = working(ops, N*4*C)
	}
	return a
}

// linearGrads are the gradients of a block's four linear layers' outputs:
// all their weight gradients need besides the stashed inputs. A full
// backward keeps them in scratch for a moment; a split one (I now, W later)
// stashes them per micro-batch until W.
type linearGrads struct {
	dqkv   kernels.Buffer // (B,T,3C) of attn.c_attn
	dres2  kernels.Buffer // (B,T,C) of attn.c_proj (and of res2)
	dfch   kernels.Buffer // (B,T,4C) of mlp.c_fc
	dblock kernels.Buffer // (B,T,C) of mlp.c_proj: the block's output gradient
}

func newLinearGrads(ops kernels.Ops, N, C int) linearGrads {
	return linearGrads{dqkv: working(ops, N*3*C), dres2: working(ops, N*C), dfch: working(ops, N*4*C), dblock: working(ops, N*C)}
}

// blockScratch is per-stack working memory, reused by every micro-batch.
type blockScratch struct {
	proj  kernels.Buffer // (B,T,C) attention or MLP projection before the residual add
	dln   kernels.Buffer // (B,T,C)
	datty kernels.Buffer // (B,T,C)
	dfchG kernels.Buffer // (B,T,4C)
	lin   linearGrads    // for backwards that are not split
	gelu  kernels.Buffer // (B,T,4C) gelu(fch) under RecomputeGELU, where the stash has no fchGelu
	acts  blockActs      // under RecomputeBlock: one block's activations but out, rebuilt for its backward
}

func newBlockScratch(ops kernels.Ops, d dims, r model.Recompute) blockScratch {
	N, C := d.N(), d.C
	s := blockScratch{
		proj: working(ops, N*C), dln: working(ops, N*C), datty: working(ops, N*C), dfchG: working(ops, N*4*C),
		lin: newLinearGrads(ops, N, C),
	}
	switch r {
	case model.RecomputeGELU:
		s.gelu = working(ops, N*4*C)
	case model.RecomputeBlock:
		s.acts = newInnerActs(ops, d, true)
	}
	return s
}

// working allocates n activations or gradients: the precision's storage (bf16
// under kernels.BF16), where statistics (LayerNorm's mean and rstd, the
// log-sum-exp, the losses) are ops.Alloc's float32.
func working(ops kernels.Ops, n int) kernels.Buffer { return ops.AllocAs(n, kernels.Working) }

// dims are the sizes every layer function takes.
type dims struct{ B, T, C, NH int }

func (d dims) N() int { return d.B * d.T }

// linearForward: out (N,OC) = inp (N,C) @ w (C,OC) + bias (OC).
func linearForward(ops kernels.Ops, out, inp, w, bias kernels.Buffer, N, C, OC int) {
	ops.Gemm(false, false, N, OC, C, 1, inp, w, 0, out)
	ops.BiasForward(out, bias, N, OC)
}

// linearBackwardInput: dinp (N,C) = dout (N,OC) @ wᵀ.
func linearBackwardInput(ops kernels.Ops, dinp, dout, w kernels.Buffer, N, C, OC int) {
	ops.Gemm(false, true, N, C, OC, 1, dout, w, 0, dinp)
}

// linearBackwardWeight: dw (C,OC) += inpᵀ @ dout; dbias (OC) += Σ dout.
func linearBackwardWeight(ops kernels.Ops, dw, dbias, dout, inp kernels.Buffer, N, C, OC int) {
	ops.Gemm(true, false, C, OC, N, 1, inp, dout, 1, dw)
	ops.BiasBackward(dbias, dout, N, OC)
}

// blockForward runs one block on inp (B,T,C), leaving a.out (B,T,C).
func blockForward(ops kernels.Ops, w []kernels.Buffer, a *blockActs, s *blockScratch, inp kernels.Buffer, d dims) {
	N, C := d.N(), d.C
	fchGelu := blockForwardToGelu(ops, w, a, s, inp, d)
	linearForward(ops, s.proj, fchGelu, w[model.FcProjW], w[model.FcProjB], N, 4*C, C)
	ops.ResidualForward(a.out, a.res2, s.proj, N*C)
}

// blockForwardToGelu runs one block on inp (B,T,C) up to the MLP
// projection, returning that projection's input gelu(fch) (B,T,4C): a.fchGelu,
// or s.gelu where a keeps none. It leaves in a all the block's backward
// reads, so it is also what RecomputeBlock runs again: the forward but for
// one of its four matmuls (4C² of 12C² multiply-adds per token).
func blockForwardToGelu(ops kernels.Ops, w []kernels.Buffer, a *blockActs, s *blockScratch, inp kernels.Buffer, d dims) kernels.Buffer {
	N, C := d.N(), d.C
	ops.LayerNormForward(a.ln1, a.ln1Mean, a.ln1Rstd, inp, w[model.Ln1W], w[model.Ln1B], N, C)
	linearForward(ops, a.qkv, a.ln1, w[model.QKVW], w[model.QKVB], N, C, 3*C)
	ops.AttentionForward(a.atty, a.lse, a.qkv, d.B, d.T, C, d.NH)
	linearForward(ops, s.proj, a.atty, w[model.AttProjW], w[model.AttProjB], N, C, C)
	// res2 = inp + proj, ln2 = LN(res2): one pass (the bits of the two ops).
	ops.ResidualLayerNormForward(a.res2, a.ln2, a.ln2Mean, a.ln2Rstd, inp, s.proj, w[model.Ln2W], w[model.Ln2B], N, C)
	linearForward(ops, a.fch, a.ln2, w[model.FcW], w[model.FcB], N, C, 4*C)
	fchGelu := a.fchGelu
	if fchGelu == nil {
		fchGelu = s.gelu
	}
	ops.GeluForward(fchGelu, a.fch, N*4*C)
	return fchGelu
}

// blockBackwardInput turns dout (B,T,C), the gradient of a.out, into dinp
// (B,T,C), the gradient of inp: the critical path of the backward pass. It
// accumulates the LayerNorms' parameter gradients into g and leaves the
// linear layers' output gradients in lg for blockBackwardWeight. dinp may be dout.
func blockBackwardInput(ops kernels.Ops, w, g []kernels.Buffer, a *blockActs, lg *linearGrads, s *blockScratch, inp, dout, dinp kernels.Buffer, d dims) {
	N, C := d.N(), d.C
	ops.Copy(lg.dblock, dout)
	// MLP: out = res2 + proj(gelu(fc(ln2(res2)))).
	linearBackwardInput(ops, s.dfchG, lg.dblock, w[model.FcProjW], N, 4*C, C)
	ops.GeluBackward(lg.dfch, a.fch, s.dfchG, N*4*C)
	linearBackwardInput(ops, s.dln, lg.dfch, w[model.FcW], N, C, 4*C)
	ops.Copy(lg.dres2, lg.dblock)
	ops.LayerNormBackward(lg.dres2, g[model.Ln2W], g[model.Ln2B], s.dln, a.res2, w[model.Ln2W], a.ln2Mean, a.ln2Rstd, N, C)
	// Attention: res2 = inp + proj(attn(qkv(ln1(inp)))).
	linearBackwardInput(ops, s.datty, lg.dres2, w[model.AttProjW], N, C, C)
	ops.AttentionBackward(lg.dqkv, s.datty, a.qkv, a.atty, a.lse, d.B, d.T, C, d.NH)
	linearBackwardInput(ops, s.dln, lg.dqkv, w[model.QKVW], N, C, 3*C)
	ops.Copy(dinp, lg.dres2)
	ops.LayerNormBackward(dinp, g[model.Ln1W], g[model.Ln1B], s.dln, inp, w[model.Ln1W], a.ln1Mean, a.ln1Rstd, N, C)
}

// blockBackwardWeight accumulates the four linear layers' weight and bias
// gradients into g, from their stashed inputs and the output gradients lg.
// It can run at any time after blockBackwardInput: nothing waits for it.
// Where a keeps no fchGelu (RecomputeGELU) it runs the GELU again into
// s.gelu: one elementwise pass over (B,T,4C).
func blockBackwardWeight(ops kernels.Ops, g []kernels.Buffer, a *blockActs, lg *linearGrads, s *blockScratch, d dims) {
	N, C := d.N(), d.C
	fchGelu := a.fchGelu
	if fchGelu == nil {
		fchGelu = s.gelu
		ops.GeluForward(fchGelu, a.fch, N*4*C)
	}
	linearBackwardWeight(ops, g[model.FcProjW], g[model.FcProjB], lg.dblock, fchGelu, N, 4*C, C)
	linearBackwardWeight(ops, g[model.FcW], g[model.FcB], lg.dfch, a.ln2, N, C, 4*C)
	linearBackwardWeight(ops, g[model.AttProjW], g[model.AttProjB], lg.dres2, a.atty, N, C, C)
	linearBackwardWeight(ops, g[model.QKVW], g[model.QKVB], lg.dqkv, a.ln1, N, C, 3*C)
}
