// Activation recomputation: what a block stashes for its backward pass and what it rebuilds there instead.

package model

import (
	"fmt"

	"baton/internal/field"
)

// Recompute says how much of a block's forward its backward runs again
// rather than keep per micro-batch in flight: trading compute for stash
// memory (BlockActElems gives the stash of each).
type Recompute uint8

const (
	// RecomputeNone stashes every activation the backward reads.
	RecomputeNone Recompute = iota
	// RecomputeGELU drops gelu(fc) (4·C per token) and runs the GELU again
	// where the MLP projection's weight gradient needs it: elementwise, a
	// fraction of a percent of the block's FLOPs.
	RecomputeGELU
	// RecomputeBlock keeps only the block's output (C per token, the next
	// block's input) and, before each half of its backward, runs its forward
	// again from its input but for the MLP projection: 8C² of the forward's
	// 12C² matmul multiply-adds per token, and the attention. That is about
	// 22% more training compute with a full backward, twice that with a
	// split one (I and W each rebuild).
	RecomputeBlock
)

var recomputeNames = [...]string{RecomputeNone: "none", RecomputeGELU: "gelu", RecomputeBlock: "block"}

// String is the mode's name as ParseRecompute reads it.
func (r Recompute) String() string {
	if int(r) < len(recomputeNames) {
		return recomputeNames[r]
	}
	return fmt.Sprintf("Recompute(%d)", uint8(r))
}

// Valid reports whether r is one of the three modes.
func (r Recompute) Valid() bool { return int(r) < len(recomputeNames) }

// ParseRecompute reads a mode by name: none, gelu or block. An empty string
// is the default, none, so an unset field needs no special case. Its error
// is a *field.Error about the field "recompute".
func ParseRecompute(s string) (Recompute, error) {
	if s == "" {
		return RecomputeNone, nil
	}
	for r, name := range recomputeNames {
		if s == name {
			return Recompute(r), nil
		}
	}
	return 0, field.Errorf("recompute", "{recompute} %q is not one of none, gelu, block; give none to stash every activation, gelu to recompute the MLP's GELU, block to recompute each block's forward in its backward", s)
}

// MarshalText writes r as its name, so that it reads as one in JSON.
func (r Recompute) MarshalText() ([]byte, error) {
	if !r.Valid() {
		return nil, fmt.Errorf("model: %v is not a recompute mode", r)
	}
	return []byte(r.String()), nil
}

// UnmarshalText reads a name as ParseRecompute does.
func (r *Recompute) UnmarshalText(b []byte) error {
	v, err := ParseRecompute(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}
