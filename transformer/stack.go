// Stack: a contiguous part of the decoder with its parameters, gradients and optimizer state, and Acts, the stash of one micro-batch on it.

package transformer

import (
	"fmt"
	"slices"

	"baton/kernels"
	"baton/model"
)

// Spec says which part of the decoder a Stack holds: blocks
// [FirstBlock, FirstBlock+NumBlocks), plus the embedding when Embed (the first
// stage) and the final LayerNorm, LM head and loss when Head (the last stage).
// Recompute says what its blocks' backward rebuilds rather than stash per
// micro-batch; it changes no bit of any result.
type Spec struct {
	FirstBlock, NumBlocks int
	Embed, Head           bool
	Recompute             model.Recompute
	// Inference: the stack only computes logits (Logits, Decoder), as
	// sampling does; it allocates no gradients, AdamW moments or head
	// gradient, three times its parameters' memory that training needs,
	// and its stash keeps of each block only qkv (inferenceActs).
	Inference bool
	// Vocab is how many ids the tokens can take (0: all V): the ids from
	// Vocab to V pad the vocabulary (GPT-2's 50,257 to 50,304, or bytes'
	// 256 in a GPT-2-sized model), never a target, and the head leaves
	// their logits out of the softmax.
	Vocab int
}

// Whole is the Spec of an undivided model.
func Whole(cfg model.Config) Spec {
	return Spec{FirstBlock: 0, NumBlocks: cfg.L, Embed: true, Head: true}
}

// Stack runs its part of the decoder on micro-batches of B sequences of T
// tokens. A micro-batch's activations live in an Acts (its stash) from
// Forward until its Backward; whoever runs the stack owns the stashes and
// decides when one is reused.
type Stack struct {
	ops  kernels.Ops
	cfg  model.Config
	spec Spec
	d    dims

	P, G, M, V *Params // parameters, gradients, AdamW moments: one layout
	wte, wpe   int     // tensor indices in P (-1 when absent); on a last stack without the embedding, wte is its tied copy
	lnfW, lnfB int
	blocks     []int // index in P of each block's first tensor

	dwteHead kernels.Buffer // (V,C) the LM head's gradient of the tied embedding
	scratch  blockScratch
	head     headScratch
	losses   kernels.Buffer // (m,B,T) per-token losses of the step's micro-batches (last stack), grown on demand
	hostLoss []float32      // (m,B,T)
	// Views and results kept from step to step, so that a step in steady
	// state allocates nothing (a view is an allocation on some backends).
	lossSlots []kernels.Buffer // (B,T) each: lossSlot's views of losses
	lossRead  kernels.Buffer   // (m,B,T) LossSums' view of losses' first m slots
	lossSums  []float64        // (m) LossSums' result
	squares   []float64        // GradSquares' result
	sqGrads   []kernels.Buffer // GradSquares' gradients
	sample    *Acts            // Logits' stash, made on first use

	// Probe, when set, is called as each unit of work ends inside Forward,
	// Backward, BackwardInput and BackwardWeight, with the unit's index in
	// model order (model.Config.UnitName): the embedding, each block, the
	// head. Whoever runs the stack records an event there to time layers.
	Probe func(unit int)
}

// Acts is one micro-batch's stash on a stack: its input, every block's
// activations, and the gradients at the stack's two ends. NewActs makes
// one; it may hold any micro-batch, one at a time.
type Acts struct {
	tokens, targets kernels.Buffer // (B,T) int: first stage / last stage
	in              kernels.Buffer // (B,T,C) the first block's input: embedding output or received activation
	blocks          []blockActs
	dOut            kernels.Buffer // (B,T,C) gradient of the stack's output (received, or from the head)
	dIn             kernels.Buffer // (B,T,C) gradient of in
	lin             []linearGrads  // per block, for a split backward; allocated by the first one
}

// NewStack allocates a stack's parameters (zeroed: see Init or SetParam),
// gradients, optimizer state and scratch for micro-batches of size B×T.
func NewStack(ops kernels.Ops, cfg model.Config, spec Spec, B, T int) (*Stack, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.CheckContext(T); err != nil {
		return nil, err
	}
	if spec.NumBlocks < 1 || spec.FirstBlock < 0 || spec.FirstBlock+spec.NumBlocks > cfg.L {
		return nil, fmt.Errorf("transformer: blocks [%d, %d) are not a non-empty range of the model's %d layers", spec.FirstBlock, spec.FirstBlock+spec.NumBlocks, cfg.L)
	}
	if B < 1 {
		return nil, fmt.Errorf("transformer: micro-batch size B=%d; it must be at least 1", B)
	}
	if !spec.Recompute.Valid() {
		return nil, fmt.Errorf("transformer: recompute mode %v is not one of none, gelu, block", spec.Recompute)
	}
	specs := cfg.StageTensors(model.Stage{FirstLayer: spec.FirstBlock, LastLayer: spec.FirstBlock + spec.NumBlocks - 1, Embed: spec.Embed, Head: spec.Head})
	s := &Stack{ops: ops, cfg: cfg, spec: spec, d: dims{B, T, cfg.C, cfg.NH}, wte: -1, wpe: -1, lnfW: -1, lnfB: -1}
	s.P = NewParams(ops, specs, kernels.Weights)
	for l := spec.FirstBlock; l < spec.FirstBlock+spec.NumBlocks; l++ {
		s.blocks = append(s.blocks, s.P.Index(cfg.BlockTensors(l)[0].Name))
	}
	if !spec.Inference {
		s.G = NewParams(ops, specs, kernels.Working)
		s.M, s.V = NewParams(ops, specs, kernels.Exact), NewParams(ops, specs, kernels.Exact)
	}
	s.wte, s.wpe = s.P.Index("wte.weight"), s.P.Index("wpe.weight")
	s.lnfW, s.lnfB = s.P.Index("ln_f.weight"), s.P.Index("ln_f.bias")
	N := B * T
	s.scratch = newBlockScratch(ops, s.d, spec.Recompute)
	if spec.Head && !spec.Inference {
		// An inference stack makes its head's scratch when Logits first
		// needs it: a Decoder never does, and for GPT-2 the (T,V) logits
		// alone are 206 MB.
		s.head = newHeadScratch(ops, N, cfg.C, cfg.V, spec.Vocab)
		s.dwteHead = working(ops, cfg.V*cfg.C)
	}
	return s, nil
}

// Spec returns what part of the decoder s holds.
func (s *Stack) Spec() Spec { return s.spec }

// Init sets every parameter to its GPT-2 initial value for seed.
func (s *Stack) Init(seed uint64) {
	// One host buffer for every tensor, the largest's size: a fresh one per
	// tensor would be the model's size again in garbage (0.5 GB for GPT-2).
	var buf []float32
	for i, t := range s.P.Specs {
		v := slices.Grow(buf[:0], t.Elems())[:t.Elems()]
		initInto(v, t, s.cfg.L, seed)
		s.ops.Upload(s.P.T[i], v)
		buf = v
	}
}

// NewActs allocates a stash for one micro-batch on s's device: besides the
// gradients at the two ends, model.Config.StageActElems(.., s.Spec().Recompute)
// float32.
func (s *Stack) NewActs() *Acts {
	ops, d := s.ops, s.d
	N := d.N()
	a := &Acts{in: working(ops, N*d.C), dOut: working(ops, N*d.C), dIn: working(ops, N*d.C)}
	if s.spec.Embed {
		a.tokens = ops.AllocInt(N)
	}
	if s.spec.Head {
		a.targets = ops.AllocInt(N)
	}
	if s.spec.Inference {
		a.blocks = inferenceActs(ops, d, len(s.blocks), a.in)
		return a
	}
	for range s.blocks {
		a.blocks = append(a.blocks, newBlockActs(ops, d, s.spec.Recompute))
	}
	return a
}

// inferenceActs are the n blocks' activations of a forward pass that no
// backward follows: one set of buffers that every block reuses, and each
// block's own qkv (B,T,3C), which a Decoder keeps as its cache. Each
// block's output is written over its input, in x, once the block has read
// the input for the last time. GPT-2 124M's stash at T=1024 is then 150 MB,
// not 940.
func inferenceActs(ops kernels.Ops, d dims, n int, x kernels.Buffer) []blockActs {
	shared := newInnerActs(ops, d, true)
	shared.out = x
	acts := make([]blockActs, n)
	for i := range acts {
		acts[i] = shared
		acts[i].qkv = working(ops, d.N()*3*d.C)
	}
	return acts
}

// Input is where the micro-batch's input activation (B,T,C) goes before
// Forward, on every stack but the first: the previous stage copies it there.
func (a *Acts) Input() kernels.Buffer { return a.in }

// Output is the micro-batch's output activation (B,T,C) after Forward.
func (a *Acts) Output() kernels.Buffer { return a.blocks[len(a.blocks)-1].out }

// GradOutput is where the gradient of the micro-batch's output (B,T,C) goes
// before Backward, on every stack but the last.
func (a *Acts) GradOutput() kernels.Buffer { return a.dOut }

// GradInput is the gradient of the micro-batch's input (B,T,C) after Backward.
func (a *Acts) GradInput() kernels.Buffer { return a.dIn }

// Forward runs micro-batch mb, stashed in a, through the stack. mb names
// the slot of its losses in the step's loss buffer. The first stack takes
// tokens (B,T); the last takes targets (B,T), computes the loss and, fused
// with it, the head's backward with the loss scaled by dscale (1 / the number
// of tokens in the whole batch, so micro-batch gradients sum to the batch's).
// dscale 0 means evaluation: no gradient, and no Backward to follow.
func (s *Stack) Forward(a *Acts, mb int, tokens, targets []int32, dscale float32) {
	ops, d := s.ops, s.d
	x := s.forwardBlocks(a, tokens)
	if s.spec.Head && dscale == 0 {
		ops.UploadInt(a.targets, targets)
		headLoss(ops, &s.head, s.lossSlot(mb), x, a.targets, s.P.T[s.lnfW], s.P.T[s.lnfB], s.P.T[s.wte], d.N(), d.C, s.cfg.V)
	} else if s.spec.Head {
		ops.UploadInt(a.targets, targets)
		headForwardBackward(ops, &s.head, s.lossSlot(mb), a.dOut, x, a.targets, s.P.T[s.lnfW], s.P.T[s.lnfB], s.P.T[s.wte],
			s.G.T[s.lnfW], s.G.T[s.lnfB], s.dwteHead, d.N(), d.C, s.cfg.V, dscale)
	}
	if s.spec.Head {
		s.probe(s.cfg.HeadUnit())
	}
}

// probe marks the end of unit's work when someone times the layers.
func (s *Stack) probe(unit int) {
	if s.Probe != nil {
		s.Probe(unit)
	}
}

// blockUnit is the unit index of the stack's i-th block.
func (s *Stack) blockUnit(i int) int { return model.BlockUnit(s.spec.FirstBlock + i) }

// Backward propagates the output gradient of a's micro-batch (GradOutput,
// or the head's own on the last stack) to GradInput, accumulating parameter
// gradients; on the first stack it ends in the embedding's gradients.
// Under RecomputeBlock each block first runs its forward again (see
// backwardActs), once for both halves.
func (s *Stack) Backward(a *Acts) {
	for i := len(s.blocks) - 1; i >= 0; i-- {
		ba := s.backwardActs(a, i)
		s.backwardInput(a, ba, i, &s.scratch.lin)
		s.backwardWeight(ba, i, &s.scratch.lin)
		s.probe(s.blockUnit(i))
	}
	s.embeddingBackward(a)
}

// BackwardInput is the first half of a split backward (zero-bubble
// schedules): GradInput and the LayerNorms' gradients, stashing what the
// linear layers' weight gradients need in a. BackwardWeight(a) must follow.
func (s *Stack) BackwardInput(a *Acts) {
	if a.lin == nil {
		N, C := s.d.N(), s.d.C
		for range s.blocks {
			a.lin = append(a.lin, newLinearGrads(s.ops, N, C))
		}
	}
	for i := len(s.blocks) - 1; i >= 0; i-- {
		s.backwardInput(a, s.backwardActs(a, i), i, &a.lin[i])
		s.probe(s.blockUnit(i))
	}
}

// BackwardWeight is the second half of a split backward: the linear layers'
// and the embedding's weight gradients. Added in the same order as Backward
// adds them, so splitting changes no bit of the result.
//
// Under RecomputeBlock each block's forward runs again here, as it did in
// BackwardInput: other micro-batches' work may have reused the scratch in
// between. That costs W about two thirds of a forward (three of the four
// matmuls and the attention), a split backward twice what a full one pays.
// Keeping instead the linear layers' inputs (ln1, atty, ln2, gelu(fch): 7·C
// per token and block) from I to W in every stash that runs a split
// backward would make its blocks keep 17·C per token with linearGrads'
// 9·C, not 10·C, against RecomputeNone's 25·C: half of what RecomputeBlock
// saves, and memory is what it is chosen for.
func (s *Stack) BackwardWeight(a *Acts) {
	for i := len(s.blocks) - 1; i >= 0; i-- {
		s.backwardWeight(s.backwardActs(a, i), i, &a.lin[i])
		s.probe(s.blockUnit(i))
	}
	s.embeddingBackward(a)
}

// blockInput is block i's input (B,T,C): the previous block's output, or
// the stack's input.
func (a *Acts) blockInput(i int) kernels.Buffer {
	if i > 0 {
		return a.blocks[i-1].out
	}
	return a.in
}

// forwardActs is where block i's forward leaves its activations: its stash,
// or under RecomputeBlock the scratch but for out, which is stashed.
func (s *Stack) forwardActs(a *Acts, i int) blockActs {
	if s.spec.Recompute != model.RecomputeBlock {
		return a.blocks[i]
	}
	ba := s.scratch.acts
	ba.out = a.blocks[i].out
	return ba
}

// backwardActs are block i's activations for its backward: its stash, or
// under RecomputeBlock the scratch, rebuilt from the block's input by
// blockForwardToGelu: the forward but for the MLP projection, at each
// backward half that needs them.
func (s *Stack) backwardActs(a *Acts, i int) *blockActs {
	if s.spec.Recompute != model.RecomputeBlock {
		return &a.blocks[i]
	}
	first := s.blocks[i]
	blockForwardToGelu(s.ops, s.P.T[first:first+model.NumBlockTensors], &s.scratch.acts, &s.scratch, a.blockInput(i), s.d)
	return &s.scratch.acts
}

// backwardInput runs block i's input-gradient half on its activations ba:
// from the stack's output gradient (last block) or the next block's input
// gradient, into a.dIn.
func (s *Stack) backwardInput(a *Acts, ba *blockActs, i int, lg *linearGrads) {
	first := s.blocks[i]
	dout := a.dIn
	if i == len(s.blocks)-1 {
		dout = a.dOut
	}
	blockBackwardInput(s.ops, s.P.T[first:first+model.NumBlockTensors], s.G.T[first:first+model.NumBlockTensors], ba, lg, &s.scratch, a.blockInput(i), dout, a.dIn, s.d)
}

func (s *Stack) backwardWeight(ba *blockActs, i int, lg *linearGrads) {
	first := s.blocks[i]
	blockBackwardWeight(s.ops, s.G.T[first:first+model.NumBlockTensors], ba, lg, &s.scratch, s.d)
}

// embeddingBackward scatters the first block's input gradient into wte and wpe.
func (s *Stack) embeddingBackward(a *Acts) {
	if s.spec.Embed {
		s.ops.EncoderBackward(s.G.T[s.wte], s.G.T[s.wpe], a.dIn, a.tokens, s.d.B, s.d.T, s.d.C)
		s.probe(model.EmbeddingUnit)
	}
}

// Logits runs an undivided model on tokens (B,T) and writes the logits
// (B,T,V) to out, in a stash of its own: a whole forward pass, which the
// Decoder (what samples) is checked against.
func (s *Stack) Logits(tokens []int32, out []float32) {
	if !s.spec.Embed || !s.spec.Head {
		panic("transformer: Logits needs a stack that holds the whole model")
	}
	if s.sample == nil {
		s.sample = s.NewActs()
	}
	if s.head.logits == nil {
		s.head = newHeadScratch(s.ops, s.d.N(), s.d.C, s.cfg.V, s.spec.Vocab)
	}
	x := s.forwardBlocks(s.sample, tokens)
	headLogits(s.ops, &s.head, x, s.P.T[s.lnfW], s.P.T[s.lnfB], s.P.T[s.wte], s.d.N(), s.d.C, s.cfg.V)
	s.ops.Download(out, s.head.logits)
}

// forwardBlocks embeds tokens (first stack) and runs the blocks, returning
// the last block's output (B,T,C).
func (s *Stack) forwardBlocks(a *Acts, tokens []int32) kernels.Buffer {
	ops, d := s.ops, s.d
	if s.spec.Embed {
		ops.UploadInt(a.tokens, tokens)
		ops.EncoderForward(a.in, a.tokens, s.P.T[s.wte], s.P.T[s.wpe], d.B, d.T, d.C)
		s.probe(model.EmbeddingUnit)
	}
	x := a.in
	for i, first := range s.blocks {
		ba := s.forwardActs(a, i)
		blockForward(ops, s.P.T[first:first+model.NumBlockTensors], &ba, &s.scratch, x, d)
		x = a.blocks[i].out
		s.probe(s.blockUnit(i))
	}
	return x
}
