// Params: a list of named tensors living in one device allocation, llm.c style.

package transformer

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"

	"baton/kernels"
	"baton/model"
)

// Params holds tensors back to back in one buffer, so an optimizer or a
// transfer can treat them as a whole and each layer can view its own.
type Params struct {
	Specs []model.Tensor
	All   kernels.Buffer   // every element, in Specs order
	T     []kernels.Buffer // T[i] views Specs[i]
}

// NewParams allocates zeroed storage for specs on ops, as s: kernels.Weights for
// parameters, Working for their gradients, Exact for AdamW's moments.
func NewParams(ops kernels.Ops, specs []model.Tensor, s kernels.Storage) *Params {
	n := 0
	for _, s := range specs {
		n += s.Elems()
	}
	p := &Params{Specs: specs, All: ops.AllocAs(n, s)}
	off := 0
	for _, s := range specs {
		p.T = append(p.T, ops.Slice(p.All, off, s.Elems()))
		off += s.Elems()
	}
	return p
}

// Index returns the position of the named tensor, or -1.
func (p *Params) Index(name string) int {
	for i, s := range p.Specs {
		if s.Name == name {
			return i
		}
	}
	return -1
}

// initInto writes a tensor's initial values into v, which holds t.Elems(),
// GPT-2 style: weights N(0, 0.02), the two residual projections of each
// block scaled by 1/sqrt(2L), biases 0, LayerNorm gains 1. Each tensor's
// values depend only on (seed, name), so a model split into any stages
// starts from the same weights.
func initInto(v []float32, t model.Tensor, L int, seed uint64) {
	switch {
	case strings.Contains(t.Name, "ln_") && strings.HasSuffix(t.Name, ".weight"):
		for i := range v {
			v[i] = 1
		}
	case strings.HasSuffix(t.Name, ".bias"):
		clear(v)
	default:
		std := 0.02
		if strings.HasSuffix(t.Name, "c_proj.weight") {
			std /= math.Sqrt(2 * float64(L))
		}
		r := rand.New(rand.NewPCG(seed, nameSeed(t.Name)))
		for i := range v {
			v[i] = float32(r.NormFloat64() * std)
		}
	}
}

// nameSeed is a tensor's seed from its name alone (64-bit FNV-1a): the
// stream of its initial values (initInto) and its seed for stochastic
// rounding (AdamW in update, RoundWeights in WriteParam), so that a model
// split into any stages draws and rounds each tensor alike, and both ends
// of the tied embedding round alike.
func nameSeed(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}
