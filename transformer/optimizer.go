// The stack's end of a step: the tied embedding's gradient, norms, AdamW and its undo, and host access to tensors.

package transformer

import (
	"baton/kernels"
)

// TiedGrad is this stack's part of the tied embedding's gradient, which the
// stack at the other end must add to its own: the encoder's on the first
// stack, the LM head's on a last stack that lacks the embedding.
func (s *Stack) TiedGrad() kernels.Buffer {
	if s.spec.Embed {
		return s.G.T[s.wte]
	}
	return s.dwteHead
}

// HasTied says whether s holds an end of the tied embedding.
func (s *Stack) HasTied() bool { return s.spec.Embed || s.spec.Head }

// FoldTiedGrad makes the wte gradient whole: the encoder's plus the LM head's.
// peer is the other end's TiedGrad copied to this device, or nil when s holds
// both ends. Both ends compute the same sum (float addition is commutative),
// so their AdamW updates keep the two copies of wte bit-identical.
func (s *Stack) FoldTiedGrad(peer kernels.Buffer) {
	g := s.G.T[s.wte]
	n := s.cfg.V * s.cfg.C
	switch {
	case s.spec.Embed && s.spec.Head:
		s.ops.ResidualForward(g, g, s.dwteHead, n)
	case s.spec.Embed:
		s.ops.ResidualForward(g, g, peer, n)
	case s.spec.Head:
		s.ops.ResidualForward(g, peer, s.dwteHead, n)
	}
}

// GradSquares returns each gradient's sum of squares in model order, leaving
// out the LM head's copy of wte (counted once, on the first stack), so the
// lists of all stages, concatenated, are the undivided model's list. The
// slice is the stack's, valid until the next call.
func (s *Stack) GradSquares() []float64 {
	if s.squares == nil { // the same tensors every step: found once
		for i, g := range s.G.T {
			if s.counted(i) {
				s.sqGrads = append(s.sqGrads, g)
			}
		}
		s.squares = make([]float64, len(s.sqGrads))
	}
	s.ops.SumSquares(s.squares, s.sqGrads)
	return s.squares
}

// GradNames names the tensors of GradSquares, in the same order.
func (s *Stack) GradNames() []string {
	out := make([]string, 0, len(s.G.T))
	for i, t := range s.G.Specs {
		if s.counted(i) {
			out = append(out, t.Name)
		}
	}
	return out
}

// counted says whether tensor i's gradient counts in the norm: all but the
// LM head's copy of wte.
func (s *Stack) counted(i int) bool { return i != s.wte || s.spec.Embed }

// Step applies AdamW (t is the 1-based step) to every parameter from its
// gradient times gradScale, then zeroes the gradients.
func (s *Stack) Step(t int, hp kernels.AdamParams, gradScale float32) {
	s.Update(t, hp, gradScale)
	s.ZeroGrads()
}

// Update is Step keeping the gradients, so that an update undone by
// Backup.Restore can be applied again with another gradScale.
func (s *Stack) Update(t int, hp kernels.AdamParams, gradScale float32) {
	s.update(t, hp, gradScale, func(int) bool { return true })
}

// UpdateUntied is Update of every tensor but the tied embedding's, whose
// gradient is whole only once FoldTiedGrad has the other end's part: an
// eager step updates the rest without waiting for it. UpdateTied does the
// tied one; the two together are Update, bit for bit (AdamW updates each
// tensor on its own).
func (s *Stack) UpdateUntied(t int, hp kernels.AdamParams, gradScale float32) {
	s.update(t, hp, gradScale, func(i int) bool { return i != s.wte })
}

// UpdateTied is Update of the tied embedding alone, after FoldTiedGrad.
func (s *Stack) UpdateTied(t int, hp kernels.AdamParams, gradScale float32) {
	s.update(t, hp, gradScale, func(i int) bool { return i == s.wte })
}

// update applies AdamW to the tensors which selects. Weight decay applies
// to matrices only, as in GPT-2 and nanoGPT.
func (s *Stack) update(t int, hp kernels.AdamParams, gradScale float32, which func(i int) bool) {
	for i, spec := range s.P.Specs {
		if !which(i) {
			continue
		}
		h := hp
		h.Seed = nameSeed(spec.Name)
		if !spec.Decay {
			h.WeightDecay = 0
		}
		s.ops.AdamW(s.P.T[i], s.G.T[i], s.M.T[i], s.V.T[i], spec.Elems(), h, gradScale, t)
	}
}

// Backup is a copy of a stack's parameters and AdamW moments on its device:
// restoring it undoes an Update exactly, where inverting AdamW in floating
// point would not.
type Backup struct {
	s       *Stack
	p, m, v kernels.Buffer // each as long as s.P.All
}

// NewBackup allocates a Backup of s, as much memory again as s's
// parameters and moments together. Save fills it.
func (s *Stack) NewBackup() *Backup {
	n := s.P.All.Len()
	return &Backup{s: s, p: s.ops.AllocAs(n, kernels.Weights), m: s.ops.Alloc(n), v: s.ops.Alloc(n)}
}

// Save copies the stack's parameters and moments into b.
func (b *Backup) Save() {
	s := b.s
	s.ops.Copy(b.p, s.P.All)
	s.ops.Copy(b.m, s.M.All)
	s.ops.Copy(b.v, s.V.All)
}

// Restore copies the last Save back into the stack's parameters and moments.
func (b *Backup) Restore() {
	s := b.s
	s.ops.Copy(s.P.All, b.p)
	s.ops.Copy(s.M.All, b.m)
	s.ops.Copy(s.V.All, b.v)
}

// ZeroGrads clears the accumulated gradients.
func (s *Stack) ZeroGrads() {
	s.ops.Zero(s.G.All)
	if s.dwteHead != nil {
		s.ops.Zero(s.dwteHead)
	}
}

// Read copies tensor i of p (s.P, s.G, s.M or s.V) to the host.
func (s *Stack) Read(p *Params, i int) []float32 {
	v := make([]float32, p.Specs[i].Elems())
	s.ops.Download(v, p.T[i])
	return v
}

// Write copies host values into tensor i of p.
func (s *Stack) Write(p *Params, i int, v []float32) { s.ops.Upload(p.T[i], v) }

// WriteParam writes host values into parameter i as AdamW's step t left it
// (t 0: no step yet): its float32 master, and where the device keeps a bf16
// copy, that copy rounded as the step rounded it (Upload alone rounds to
// nearest), so a restored or moved parameter reads as it did.
func (s *Stack) WriteParam(i int, v []float32, t int) {
	s.ops.Upload(s.P.T[i], v)
	if t > 0 {
		s.ops.RoundWeights(s.P.T[i], nameSeed(s.P.Specs[i].Name), t)
	}
}
