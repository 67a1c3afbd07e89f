// Stack: a contiguous part of the decoder with its parameters, gradients,
// optimizer state and per-micro-batch activation stash.

package transformer

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"baton/kernels"
	"baton/model"
)

// Spec says which part of the decoder a Stack holds: blocks
// [FirstBlock, FirstBlock+NumBlocks), plus the embedding when Embed (the first
// stage) and the final LayerNorm, LM head and loss when Head (the last stage).
type Spec struct {
	FirstBlock, NumBlocks int
	Embed, Head           bool
}

// Whole is the Spec of an undivided model.
func Whole(cfg model.Config) Spec {
	return Spec{FirstBlock: 0, NumBlocks: cfg.L, Embed: true, Head: true}
}

// Stack runs its part of the decoder on micro-batches of B sequences of T
// tokens. Micro-batches are named by an id; each id's activations stay
// stashed from Forward until its Backward, and stash memory is reused after.
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

	mu     sync.Mutex      // guards sets, free and nsets: a neighbour's transfer may acquire a stash
	freed  sync.Cond       // on mu: a stash was released
	sets   map[int]*actSet // micro-batch id → its stash
	free   []*actSet       // stashes whose backward is done
	nsets  int
	limit  int  // Reserve's count: Input waits for a release rather than allocate past it (0: no limit)
	waits  int  // times Input waited for a release
	broken bool // Interrupt: a waiting Input gives up
	tokens []int32
}

// actSet is one micro-batch's stash on this stack.
type actSet struct {
	mb              int            // the micro-batch it holds
	done            bool           // its backward ran: reusable, but GradInput stays readable until then
	fence           any            // Release's mark of the last use, for whoever reuses the stash
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
	var specs []model.Tensor
	if spec.Embed {
		specs = append(specs, cfg.EmbeddingTensors()...)
	}
	s := &Stack{ops: ops, cfg: cfg, spec: spec, d: dims{B, T, cfg.C, cfg.NH}, wte: -1, wpe: -1, lnfW: -1, lnfB: -1, sets: map[int]*actSet{}}
	s.freed.L = &s.mu
	for l := spec.FirstBlock; l < spec.FirstBlock+spec.NumBlocks; l++ {
		s.blocks = append(s.blocks, len(specs))
		specs = append(specs, cfg.BlockTensors(l)...)
	}
	if spec.Head {
		specs = append(specs, cfg.HeadTensors()...)
		if !spec.Embed {
			specs = append(specs, cfg.EmbeddingTensors()[0]) // the tied LM head's own copy of wte
		}
	}
	s.P, s.G, s.M, s.V = NewParams(ops, specs), NewParams(ops, specs), NewParams(ops, specs), NewParams(ops, specs)
	s.wte, s.wpe = s.P.Index("wte.weight"), s.P.Index("wpe.weight")
	s.lnfW, s.lnfB = s.P.Index("ln_f.weight"), s.P.Index("ln_f.bias")
	N := B * T
	s.scratch = newBlockScratch(ops, N, cfg.C)
	if spec.Head {
		s.head = newHeadScratch(ops, N, cfg.C, cfg.V)
		s.dwteHead = ops.Alloc(cfg.V * cfg.C)
	}
	return s, nil
}

// Spec returns what part of the decoder s holds.
func (s *Stack) Spec() Spec { return s.spec }

// Init sets every parameter to its GPT-2 initial value for seed.
func (s *Stack) Init(seed uint64) {
	for i, t := range s.P.Specs {
		s.ops.Upload(s.P.T[i], InitValues(t, s.cfg.L, seed))
	}
}

// Stashes is how many micro-batch stashes s has allocated: the most
// micro-batches it ever had in flight at once, or Reserve's count.
func (s *Stack) Stashes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nsets
}

// ErrInterrupted is what an Input waiting for a stash panics with once
// Interrupt is called.
var ErrInterrupted = errors.New("transformer: interrupted while waiting for a stash")

// Interrupt makes an Input that waits for a stash, or will, give up (it
// panics with ErrInterrupted): the step it serves has failed elsewhere.
func (s *Stack) Interrupt() {
	s.mu.Lock()
	s.broken = true
	s.freed.Broadcast()
	s.mu.Unlock()
}

// Reclaim hands back every stash and clears an Interrupt, for a new step
// once no work of the last one remains (the devices have drained): a failed
// step may have left stashes taken.
func (s *Stack) Reclaim() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.broken = false
	for _, a := range s.sets {
		if !a.done {
			a.done, a.fence = true, nil
			s.free = append(s.free, a)
		}
	}
}

// StashWaits is how many times Input waited for a Release because all
// Reserve's stashes were taken: never in training when Reserve was sized by
// StashBound; in evaluation, whose sends are not held back by backwards, it
// is how the sender is kept from running ahead.
func (s *Stack) StashWaits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waits
}

// Reserve allocates stashes until s has n, and makes n the most that Input
// takes: past it, Input waits for a Release instead of allocating. Input
// runs on the goroutine of the stage that sends the activation, where
// allocating on this stack's device is not safe on every device (a CUDA
// green context may be current on one thread only); so the executor
// reserves, before a step, the most stashes its schedule can make the stage
// hold, and Input never allocates.
func (s *Stack) Reserve(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.nsets < n {
		s.free = append(s.free, s.newSet())
	}
	s.limit = max(s.limit, n)
}

// acquire returns micro-batch mb's stash, taking a free one (or making one)
// when mb has none, and the fence of the stash's previous use when it was
// released (nil otherwise). forPeer is Input's call, which waits rather than
// allocate past Reserve's limit.
func (s *Stack) acquire(mb int, forPeer bool) (*actSet, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.sets[mb]; ok {
		var fence any
		if a.done {
			s.free = slices.DeleteFunc(s.free, func(f *actSet) bool { return f == a })
			a.done, fence = false, a.fence
		}
		return a, fence
	}
	if forPeer && len(s.free) == 0 && s.limit > 0 && s.nsets >= s.limit {
		s.waits++
		for len(s.free) == 0 {
			if s.broken {
				panic(ErrInterrupted)
			}
			s.freed.Wait()
		}
	}
	var a *actSet
	var fence any
	if n := len(s.free); n > 0 {
		a, s.free = s.free[n-1], s.free[:n-1]
		if s.sets[a.mb] == a { // a reserved stash has held no micro-batch yet
			delete(s.sets, a.mb)
		}
		a.done, fence = false, a.fence
	} else {
		a = s.newSet()
	}
	a.mb = mb
	s.sets[mb] = a
	return a, fence
}

func (s *Stack) newSet() *actSet {
	ops, d := s.ops, s.d
	N := d.N()
	a := &actSet{in: ops.Alloc(N * d.C), dOut: ops.Alloc(N * d.C), dIn: ops.Alloc(N * d.C)}
	if s.spec.Embed {
		a.tokens = ops.AllocInt(N)
	}
	if s.spec.Head {
		a.targets = ops.AllocInt(N)
	}
	for range s.blocks {
		a.blocks = append(a.blocks, newBlockActs(ops, d.B, d.T, d.C, d.NH))
	}
	s.nsets++
	return a
}

func (s *Stack) set(mb int, what string) *actSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.sets[mb]
	if !ok {
		panic(fmt.Sprintf("transformer: %s of micro-batch %d, which has no stash on blocks [%d, %d)", what, mb, s.spec.FirstBlock, s.spec.FirstBlock+s.spec.NumBlocks))
	}
	return a
}

// Input is where micro-batch mb's input activation (B,T,C) goes before
// Forward, on every stack but the first. The previous stage's transfer calls
// it, from its own goroutine: the stash is taken when the activation is
// sent. With it comes the fence given to Release by the stash's last user
// (nil for a fresh stash): the copy into the stash must wait for it, since
// this stack's device may still be reading the stash when the host moves on.
func (s *Stack) Input(mb int) (kernels.Buffer, any) {
	a, fence := s.acquire(mb, true)
	return a.in, fence
}

// Output is micro-batch mb's output activation (B,T,C) after Forward.
func (s *Stack) Output(mb int) kernels.Buffer {
	a := s.set(mb, "Output")
	return a.blocks[len(a.blocks)-1].out
}

// GradOutput is where the gradient of micro-batch mb's output (B,T,C) goes
// before Backward, on every stack but the last.
func (s *Stack) GradOutput(mb int) kernels.Buffer { return s.set(mb, "GradOutput").dOut }

// GradInput is the gradient of micro-batch mb's input (B,T,C) after Backward.
func (s *Stack) GradInput(mb int) kernels.Buffer { return s.set(mb, "GradInput").dIn }

// Forward runs micro-batch mb through the stack. The first stack takes
// tokens (B,T); the last takes targets (B,T), computes the loss and, fused
// with it, the head's backward with the loss scaled by dscale (1 / the number
// of tokens in the whole batch, so micro-batch gradients sum to the batch's).
// dscale 0 means evaluation: no gradient, and no Backward to follow.
func (s *Stack) Forward(mb int, tokens, targets []int32, dscale float32) {
	a, _ := s.acquire(mb, false) // the owner's own stream orders it after the stash's last use
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
}

// Release makes micro-batch mb's stash reusable. Its owner calls it once
// nothing more will be read: after the backward's GradInput was sent (or
// after Backward on the first stack), and in evaluation after the Output was
// sent (or after Forward on the last stack). Until then the stash stays
// mb's even when a neighbour's transfer needs a new one. fence marks, on the
// owner's device, the end of the work that reads the stash; Input hands it
// to the next user (nil where work runs when issued).
func (s *Stack) Release(mb int, fence any) { s.release(s.set(mb, "Release"), fence) }

func (s *Stack) release(a *actSet, fence any) {
	s.mu.Lock()
	a.done, a.fence = true, fence
	s.free = append(s.free, a)
	s.freed.Broadcast()
	s.mu.Unlock()
}

// lossSlot is where micro-batch mb's per-token losses (B,T) go: its part of
// one buffer for the step, so that the host reads them all in one copy. The
// buffer grows (keeping what it holds) when mb is beyond it: a few times in a
// run's first step, never after.
func (s *Stack) lossSlot(mb int) kernels.Buffer {
	N := s.d.N()
	if have := s.lossCap(); (mb+1)*N > have {
		grown := s.ops.Alloc(max((mb+1)*N, 2*have))
		if have > 0 {
			s.ops.Copy(s.ops.Slice(grown, 0, have), s.losses)
		}
		s.losses = grown
	}
	return s.ops.Slice(s.losses, mb*N, N)
}

func (s *Stack) lossCap() int {
	if s.losses == nil {
		return 0
	}
	return s.losses.Len()
}

// LossSums returns the per-token losses of micro-batches 0..m-1 (last stack
// only, after their Forward), each micro-batch's added in float64 in token
// order. It reads them back in one copy, which waits for the device.
func (s *Stack) LossSums(m int) []float64 {
	N := s.d.N()
	if !s.spec.Head || m*N > s.lossCap() {
		panic(fmt.Sprintf("transformer: LossSums(%d) on blocks [%d, %d), which hold losses of %d micro-batches", m, s.spec.FirstBlock, s.spec.FirstBlock+s.spec.NumBlocks, s.lossCap()/N))
	}
	if len(s.hostLoss) < m*N {
		s.hostLoss = make([]float32, m*N)
	}
	host := s.hostLoss[:m*N]
	s.ops.Download(host, s.ops.Slice(s.losses, 0, m*N))
	sums := make([]float64, m)
	for mb := range sums {
		for _, l := range host[mb*N : (mb+1)*N] {
			sums[mb] += float64(l)
		}
	}
	return sums
}

// Backward propagates micro-batch mb's output gradient (GradOutput, or the
// head's own on the last stack) to GradInput, accumulating parameter
// gradients; on the first stack it ends in the embedding's gradients.
func (s *Stack) Backward(mb int) {
	a := s.set(mb, "Backward")
	for i := len(s.blocks) - 1; i >= 0; i-- {
		s.backwardInput(a, i, &s.scratch.lin)
		s.backwardWeight(a, i, &s.scratch.lin)
	}
	s.embeddingBackward(a)
}

// BackwardInput is the first half of a split backward (zero-bubble
// schedules): GradInput and the LayerNorms' gradients, stashing what the
// linear layers' weight gradients need. BackwardWeight(mb) must follow.
func (s *Stack) BackwardInput(mb int) {
	a := s.set(mb, "BackwardInput")
	if a.lin == nil {
		N, C := s.d.N(), s.d.C
		for range s.blocks {
			a.lin = append(a.lin, newLinearGrads(s.ops, N, C))
		}
	}
	for i := len(s.blocks) - 1; i >= 0; i-- {
		s.backwardInput(a, i, &a.lin[i])
	}
}

// BackwardWeight is the second half of a split backward: the linear layers'
// and the embedding's weight gradients. Added in the same order as Backward
// adds them, so splitting changes no bit of the result.
func (s *Stack) BackwardWeight(mb int) {
	a := s.set(mb, "BackwardWeight")
	for i := len(s.blocks) - 1; i >= 0; i-- {
		s.backwardWeight(a, i, &a.lin[i])
	}
	s.embeddingBackward(a)
}

// backwardInput runs block i's input-gradient half: from the stack's output
// gradient (last block) or the next block's input gradient, into a.dIn.
func (s *Stack) backwardInput(a *actSet, i int, lg *linearGrads) {
	first := s.blocks[i]
	inp, dout := a.in, a.dIn
	if i > 0 {
		inp = a.blocks[i-1].out
	}
	if i == len(s.blocks)-1 {
		dout = a.dOut
	}
	blockBackwardInput(s.ops, s.P.T[first:first+model.NumBlockTensors], s.G.T[first:first+model.NumBlockTensors], &a.blocks[i], lg, &s.scratch, inp, dout, a.dIn, s.d)
}

func (s *Stack) backwardWeight(a *actSet, i int, lg *linearGrads) {
	first := s.blocks[i]
	blockBackwardWeight(s.ops, s.G.T[first:first+model.NumBlockTensors], &a.blocks[i], lg, s.d)
}

// embeddingBackward scatters the first block's input gradient into wte and wpe.
func (s *Stack) embeddingBackward(a *actSet) {
	if s.spec.Embed {
		s.ops.EncoderBackward(s.G.T[s.wte], s.G.T[s.wpe], a.dIn, a.tokens, s.d.B, s.d.T, s.d.C)
	}
}

// Logits runs an undivided model on tokens (B,T) and writes the logits
// (B,T,V) to out, for sampling. It uses the stash of micro-batch -1.
func (s *Stack) Logits(tokens []int32, out []float32) {
	if !s.spec.Embed || !s.spec.Head {
		panic("transformer: Logits needs a stack that holds the whole model")
	}
	a, _ := s.acquire(-1, false)
	x := s.forwardBlocks(a, tokens)
	headLogits(s.ops, &s.head, x, s.P.T[s.lnfW], s.P.T[s.lnfB], s.P.T[s.wte], s.d.N(), s.d.C, s.cfg.V)
	s.ops.Download(out, s.head.logits)
	s.release(a, nil) // Download waited for the device
}

// forwardBlocks embeds tokens (first stack) and runs the blocks, returning
// the last block's output (B,T,C).
func (s *Stack) forwardBlocks(a *actSet, tokens []int32) kernels.Buffer {
	ops, d := s.ops, s.d
	if s.spec.Embed {
		ops.UploadInt(a.tokens, tokens)
		ops.EncoderForward(a.in, a.tokens, s.P.T[s.wte], s.P.T[s.wpe], d.B, d.T, d.C)
	}
	x := a.in
	for i, first := range s.blocks {
		blockForward(ops, s.P.T[first:first+model.NumBlockTensors], &a.blocks[i], &s.scratch, x, d)
		x = a.blocks[i].out
	}
	return x
}
