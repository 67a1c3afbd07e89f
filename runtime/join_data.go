// The ranks' data: every rank reads its own --data, and all must hold the same tokens.

package runtime

import (
	"fmt"
	"strings"

	"baton/internal/field"
	"baton/runtime/dist"
)

// sameData refuses, on every rank alike, a run whose ranks read different
// tokens (the same --data path on hosts or in directories that hold other
// files): one stage's inputs would meet another's targets. Each rank sends
// the sha256 of its tokens to every other and compares them all, so every
// rank names the same ranks; each refuses as a configuration error (exit
// status 2 in the CLI), prefixed with its rank as the rendezvous's are.
func (t *Trainer) sameData() error {
	g := t.cfg.Group
	if g == nil {
		return nil
	}
	sums, err := g.exchange(dist.Tag{Kind: msgData}, []byte(t.tokenSum()), func(r int) string {
		return fmt.Sprintf("comparing the ranks' data: rank %d's checksum", r)
	})
	if err != nil {
		return err
	}
	var other []string
	for r, s := range sums[1:] {
		if string(s) != string(sums[0]) {
			other = append(other, fmt.Sprintf("rank %d's is %s", r+1, short(string(s))))
		}
	}
	if len(other) > 0 {
		return &ConfigError{fmt.Errorf("rank %d of %d: %w", g.Rank(), g.Mesh.World(), field.Errorf("data", "the ranks read different data: the sha256 of rank 0's tokens is %s, %s (this rank read %s); give every rank the same {data}", short(string(sums[0])), strings.Join(other, ", "), t.ds.Source))}
	}
	return nil
}

// tokenSum is the sha256 of the run's tokens, computed once.
func (t *Trainer) tokenSum() string {
	if t.dataSum == "" {
		t.dataSum = tokenSum(t.ds)
	}
	return t.dataSum
}
