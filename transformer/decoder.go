// Decoder: generating one position at a time with a cache of every block's keys and values.

package transformer

import (
	"fmt"

	"baton/kernels"
	"baton/model"
)

// Decoder runs an undivided inference stack one position at a time. Each
// block's keys and values of the positions before stay in a cache (the
// stack's own stash of qkv rows), so a new position costs one row through
// each matmul, not a forward pass of the whole context: GPT-2 124M's next
// token reads its weights once instead of multiplying 1,024 rows by them.
//
// The cached attention is the backend's kernels.RowAttention, which the
// CPU's implements (a backend wrapped in another Ops, as a stage's device
// wraps it, hides it: Sample builds its stack on the CPU backend itself).
// Its cache is the stash Stack.Logits uses: a call of that empties it.
type Decoder struct {
	s   *Stack
	n   int              // positions in the cache
	qkv []kernels.Buffer // per block: (T,3C), the stash's; rows [0,n) are the cache
	// One position's working rows.
	token                 kernels.Buffer // (1) int
	x, ln, lnMean, lnRstd kernels.Buffer // (1,C), (1,C), (1), (1)
	atty, proj, res2      kernels.Buffer // (1,C)
	fch, fchGelu          kernels.Buffer // (1,4C)
	logits                kernels.Buffer // (1,V)
	padding               kernels.Buffer // (V): the padding ids' mask, or nil
	rows                  kernels.RowAttention
}

// NewDecoder makes a Decoder of s, which must hold the whole model on a
// backend of host memory.
func NewDecoder(s *Stack) (*Decoder, error) {
	if !s.spec.Embed || !s.spec.Head {
		return nil, fmt.Errorf("transformer: a decoder needs a stack that holds the whole model")
	}
	if s.spec.Recompute == model.RecomputeBlock {
		return nil, fmt.Errorf("transformer: a decoder needs a stack that stashes its blocks' qkv (recompute %v keeps none)", s.spec.Recompute)
	}
	if s.sample == nil {
		s.sample = s.NewActs()
	}
	rows, ok := s.ops.(kernels.RowAttention)
	if !ok {
		return nil, fmt.Errorf("transformer: decoding with a cache needs a backend that attends one row over it (kernels.RowAttention); %s's does not", s.ops.Name())
	}
	ops, C := s.ops, s.cfg.C
	d := &Decoder{s: s, token: ops.AllocInt(1),
		x: ops.Alloc(C), ln: ops.Alloc(C), lnMean: ops.Alloc(1), lnRstd: ops.Alloc(1),
		atty: ops.Alloc(C), proj: ops.Alloc(C), res2: ops.Alloc(C),
		fch: ops.Alloc(4 * C), fchGelu: ops.Alloc(4 * C), logits: ops.Alloc(s.cfg.V), rows: rows,
		padding: newPaddingMask(ops, s.cfg.V, s.spec.Vocab),
	}
	for _, ba := range s.sample.blocks {
		d.qkv = append(d.qkv, ba.qkv)
	}
	return d, nil
}

// Len is the number of positions in the cache: Next may add one while it
// is below Cap.
func (d *Decoder) Len() int { return d.n }

// Cap is the most positions the cache holds: the stack's context T.
func (d *Decoder) Cap() int { return d.s.d.T }

// Start empties the cache and fills it with tokens (1 to Cap of them), and
// writes the logits (V) that follow the last of them to out. A few tokens
// go through one row at a time, as Next runs them; more, through one
// forward pass over the whole context, which costs the same for any
// number of tokens: on the CPU, GPT-2 124M's pass over 1,024 positions
// takes as long as 14 rows (0.66 s; a row is 47 ms).
func (d *Decoder) Start(tokens []int32, out []float32) {
	s, T, C := d.s, d.s.d.T, d.s.d.C
	if len(tokens) < 1 || len(tokens) > T || s.d.B != 1 {
		panic(fmt.Sprintf("transformer: Decoder.Start with %d tokens on a stack of B=%d, T=%d; it takes 1 to T on B=1", len(tokens), s.d.B, T))
	}
	d.n = 0
	if len(tokens) <= max(1, T/64) {
		for _, tok := range tokens {
			d.advance(tok)
		}
		d.head(out)
		return
	}
	// The positions past the tokens are padding: attention is causal, so
	// they change nothing before them, and Next overwrites their rows.
	padded := make([]int32, T)
	copy(padded, tokens)
	x := s.forwardBlocks(s.sample, padded)
	d.n = len(tokens)
	s.ops.Copy(d.x, s.ops.Slice(x, (d.n-1)*C, C))
	d.head(out)
}

// Next appends token at position Len and writes the logits (V) that
// follow it to out.
func (d *Decoder) Next(token int32, out []float32) {
	if d.n >= d.Cap() {
		panic(fmt.Sprintf("transformer: Decoder.Next with the cache full (%d positions)", d.n))
	}
	d.advance(token)
	d.head(out)
}

// advance runs token through every block at position Len, adding its
// keys and values to the cache and leaving the last block's output in x.
func (d *Decoder) advance(token int32) {
	s, ops, C, p := d.s, d.s.ops, d.s.cfg.C, d.n
	ops.UploadInt(d.token, []int32{token})
	ops.EncoderForward(d.x, d.token, s.P.T[s.wte], ops.Slice(s.P.T[s.wpe], p*C, C), 1, 1, C)
	for i, first := range s.blocks {
		d.block(i, s.P.T[first:first+model.NumBlockTensors], p)
	}
	d.n++
}

// block runs block i (weights w) on the row x at position p, leaving its
// output in x: blockForward's layers, one row at a time.
func (d *Decoder) block(i int, w []kernels.Buffer, p int) {
	ops, C := d.s.ops, d.s.cfg.C
	qkv := ops.Slice(d.qkv[i], p*3*C, 3*C) // (1,3C): this position's row of the cache
	ops.LayerNormForward(d.ln, d.lnMean, d.lnRstd, d.x, w[model.Ln1W], w[model.Ln1B], 1, C)
	linearForward(ops, qkv, d.ln, w[model.QKVW], w[model.QKVB], 1, C, 3*C)
	d.rows.AttendRow(d.atty, d.qkv[i], p, C, d.s.cfg.NH)
	linearForward(ops, d.proj, d.atty, w[model.AttProjW], w[model.AttProjB], 1, C, C)
	ops.ResidualLayerNormForward(d.res2, d.ln, d.lnMean, d.lnRstd, d.x, d.proj, w[model.Ln2W], w[model.Ln2B], 1, C)
	linearForward(ops, d.fch, d.ln, w[model.FcW], w[model.FcB], 1, C, 4*C)
	ops.GeluForward(d.fchGelu, d.fch, 4*C)
	linearForward(ops, d.proj, d.fchGelu, w[model.FcProjW], w[model.FcProjB], 1, 4*C, C)
	ops.ResidualForward(d.x, d.res2, d.proj, C)
}

// head writes the logits (V) of the row x to out: ln_f(x) @ wteᵀ, the
// padding ids' masked as the stack's head masks them (headLogits).
func (d *Decoder) head(out []float32) {
	s, ops, C, V := d.s, d.s.ops, d.s.cfg.C, d.s.cfg.V
	ops.LayerNormForward(d.ln, d.lnMean, d.lnRstd, d.x, s.P.T[s.lnfW], s.P.T[s.lnfB], 1, C)
	ops.Gemm(false, true, 1, V, C, 1, d.ln, s.P.T[s.wte], 0, d.logits)
	if d.padding != nil {
		ops.BiasForward(d.logits, d.padding, 1, V)
	}
	ops.Download(out, d.logits)
}
