// Stage memory: every buffer a stage allocates on its device, as the transformer and the CUDA backend allocate it, rounded as a CUDA allocator rounds it.

package model

import "math/bits"

// StageBytes is what stage s, of k blocks, allocates on its device in fp32
// (and tf32) and in bf16: parameters, gradients, AdamW's moments (and an
// eager step's copy), the stack's scratch (the blocks' working buffers, the
// head's logits, the tied gradient from the other end), o.Stashes[s]
// (1 where o gives none) stashes of micro-batches of o.B×o.T tokens recomputing as o.Recompute
// says, the per-token losses, and the CUDA backend's own scratch. It lists
// the buffers as transformer.NewStack, NewActs and the runtime allocate
// them, each rounded as the CUDA caching allocator rounds it
// (CUDABlockBytes), so that a CUDA stage's peak stays at or below it (with
// o.Vocab, the head's mask of the padding ids too): all
// are live at once when the optimizer step sums the gradients' squares. A
// CPU device allocates the same buffers unrounded and keeps its kernels'
// scratch in Go memory: a little less. Left out is what no allocator
// counts: the CUDA context, cuBLAS's own workspace, CUDA graphs. o's sizes
// must be resolved (Partition resolves them).
func (c Config) StageBytes(s, k int, embed, head bool, o PlanOptions) (fp32, bf16 int64) {
	n := o.stashes(s)
	return c.stageMem(k, n, embed, head, o, false), c.stageMem(k, n, embed, head, o, true)
}

// StageBytesIn is StageBytes in precision prec, one of Precisions: what a
// device must hold for the stage, as a planner weighs it against the device.
func (c Config) StageBytesIn(prec string, s, k int, embed, head bool, o PlanOptions) int64 {
	fp32, bf16 := c.StageBytes(s, k, embed, head, o)
	return BytesIn(prec, fp32, bf16)
}

// stageMem is StageBytes in one precision for a stage of k blocks holding
// n stashes.
func (c Config) stageMem(k, n int, embed, head bool, o PlanOptions, bf16 bool) int64 {
	m := &stageMem{bf16: bf16, N: int64(o.B) * int64(o.T), C: int64(c.C), V: int64(c.V), lse: int64(o.B) * int64(c.NH) * int64(o.T)}
	params := c.StageParams(k, embed, head)
	m.weights(params) // P, G, M and V: one buffer each for the stage's tensors
	m.working(params)
	m.exact(params)
	m.exact(params)
	if o.EagerOptimizer { // transformer.Backup: parameters and moments to redo a step from
		m.weights(params)
		m.exact(params)
		m.exact(params)
	}
	m.blockScratch(o.Recompute)
	tied := embed != head // a stage with one end of the tied embedding
	if head {
		m.head()
		if o.Vocab > 0 && o.Vocab < c.V {
			m.weights(m.V) // the padding ids' mask
		}
		m.losses(max(o.Microbatches, n))
	}
	if tied {
		m.working(m.V * m.C) // the other end's wte gradient
	}
	for range n {
		m.stash(k, embed, head, o.Recompute, o.SplitBackward)
	}
	m.opsScratch(embed && head, tied)
	m.add(8 * c.sumSquaresSlots(k, embed, head))
	return m.bytes
}

// stageMem adds up buffers of one precision for micro-batches of N tokens.
type stageMem struct {
	bf16    bool
	N, C, V int64 // tokens per micro-batch, channels, vocabulary
	lse     int64 // the attention's log-sum-exp per micro-batch, B·NH·T
	bytes   int64
}

// add counts one allocation of n bytes.
func (m *stageMem) add(n int64) {
	if n > 0 {
		m.bytes += CUDABlockBytes(n)
	}
}

// exact counts a buffer of n float32 or int32: statistics, moments, losses, tokens.
func (m *stageMem) exact(n int64) { m.add(4 * n) }

// working counts a buffer of n activations or gradients: bf16 under bf16.
func (m *stageMem) working(n int64) {
	if m.bf16 {
		m.add(2 * n)
		return
	}
	m.add(4 * n)
}

// weights counts a buffer of n parameters: under bf16 a bf16 copy besides
// the float32 master, which is its own allocation.
func (m *stageMem) weights(n int64) {
	if m.bf16 {
		m.add(2 * n)
	}
	m.add(4 * n)
}

// acts counts one block's activations but its output (transformer's
// newInnerActs), gelu(fc) only when withGelu.
func (m *stageMem) acts(withGelu bool) {
	N, C := m.N, m.C
	for _, n := range []int64{N * C, 3 * N * C, N * C, N * C, N * C, 4 * N * C} { // ln1, qkv, atty, res2, ln2, fc
		m.working(n)
	}
	for range 4 { // the two LayerNorms' mean and rstd
		m.exact(N)
	}
	m.exact(m.lse)
	if withGelu {
		m.working(4 * N * C)
	}
}

// linearGrads counts the gradients of a block's four linear layers' outputs.
func (m *stageMem) linearGrads() {
	for _, n := range []int64{3, 1, 4, 1} {
		m.working(n * m.N * m.C)
	}
}

// blockScratch counts the working memory the stack's blocks share: the
// projection, two input gradients, the GELU's gradient, the linear layers'
// gradients of a full backward, and what r rebuilds in the backward.
func (m *stageMem) blockScratch(r Recompute) {
	for _, n := range []int64{1, 1, 1, 4} {
		m.working(n * m.N * m.C)
	}
	m.linearGrads()
	switch r {
	case RecomputeGELU:
		m.working(4 * m.N * m.C)
	case RecomputeBlock:
		m.acts(true)
	}
}

// head counts the head's scratch: ln_f's output, mean and rstd, the logits
// (B,T,V), which become their own gradient, ln_f's input gradient, and the
// LM head's gradient of the tied wte.
func (m *stageMem) head() {
	m.working(m.N * m.C)
	m.exact(m.N)
	m.exact(m.N)
	m.working(m.N * m.V)
	m.working(m.N * m.C)
	m.working(m.V * m.C)
}

// losses counts the per-token losses of a step's mb micro-batches: one
// buffer, doubled while the first step's micro-batches outgrow it, each
// smaller one kept.
func (m *stageMem) losses(mb int) {
	for n := int64(1); ; n *= 2 {
		m.exact(n * m.N)
		if n >= int64(mb) {
			return
		}
	}
}

// stash counts one micro-batch's stash (transformer.NewActs): the stage's
// input, the gradients at its two ends, the tokens (first stage) and
// targets (last), each block's activations as r keeps them, and under a
// split backward each block's linear gradients from I to W.
func (m *stageMem) stash(k int, embed, head bool, r Recompute, split bool) {
	for range 3 {
		m.working(m.N * m.C)
	}
	if embed {
		m.exact(m.N)
	}
	if head {
		m.exact(m.N)
	}
	for range k {
		if r != RecomputeBlock {
			m.acts(r == RecomputeNone)
		}
		m.working(m.N * m.C) // the block's output
		if split {
			m.linearGrads()
		}
	}
}

// opsScratch counts the CUDA backend's scratch (kernels/cuda's
// scratchFloats): one float32 buffer the size of its largest request, the
// attention backward's (B·NH·T), the column sums of the LayerNorm and bias
// backwards (colSumChunks), and under bf16 a bf16 buffer widened to float32
// on its way to or from the host: an activation or its gradient sent to
// another process, where the stage has a neighbour, and the tied wte
// gradient on a stage at one end.
func (m *stageMem) opsScratch(alone, tied bool) {
	rows := max(256, (m.N+63)/64)
	chunks := (m.N + rows - 1) / rows
	n := max(m.lse, 2*chunks*4*m.C) // the MLP's bias backward: 4C columns
	if m.bf16 && !alone {
		n = max(n, m.N*m.C)
	}
	if m.bf16 && tied {
		n = max(n, m.V*m.C)
	}
	m.exact(n)
}

// sumSquaresSlots is the float64 of the CUDA backend's SumSquares scratch for
// a stage's gradients (kernels/cuda's sumSqGrid): a result per tensor and a
// partial sum per block of 16384 elements, at most 1024 blocks a tensor. The
// LM head's copy of wte on a last stage apart from the first is left out,
// as GradSquares leaves it.
func (c Config) sumSquaresSlots(k int, embed, head bool) int64 {
	var ts []Tensor
	if embed {
		ts = c.EmbeddingTensors()
	}
	for range k {
		ts = append(ts, c.BlockTensors(0)...)
	}
	if head {
		ts = append(ts, c.HeadTensors()...)
	}
	slots := int64(len(ts))
	for _, t := range ts {
		slots += min(1024, (int64(t.Elems())+1<<14-1)>>14)
	}
	return slots
}

// CUDABlockBytes is what the CUDA backend's caching allocator
// (kernels/cuda's roundBytes) takes for a request of n bytes: n rounded up
// to 512 B up to 1 MiB, above that to 1/32 of the next power of two.
func CUDABlockBytes(n int64) int64 {
	g := int64(512)
	if n > 1<<20 {
		g = int64(1) << (bits.Len64(uint64(n-1)) - 5)
	}
	return (n + g - 1) / g * g
}
