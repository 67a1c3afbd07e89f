// Split: the deterministic train/validation split of one token stream.

package data

import "fmt"

const (
	// splitChunk is the unit of the text split. Whole chunks go to one side,
	// so validation holds long runs of contiguous text rather than scraps.
	splitChunk = 64 << 10
	// valEvery: every valEvery-th chunk is validation (5%), spread evenly
	// over the corpus so validation samples every part of it.
	valEvery = 20
)

// splitStream cuts ts into chunks and moves every valEvery-th chunk into the
// returned validation slice; the rest is compacted in place into train, so
// the split costs 5% extra memory rather than a full copy. ts is reused.
// A stream shorter than valEvery full chunks uses chunks of len/valEvery
// tokens, so small corpora still get a 5% validation part.
func splitStream(ts []uint16) (train, val []uint16, how string) {
	chunk := splitChunk
	if len(ts) < valEvery*splitChunk {
		chunk = max(len(ts)/valEvery, 1)
	}
	val = make([]uint16, 0, len(ts)/valEvery+chunk)
	w := 0
	for i, r := 0, 0; r < len(ts); i, r = i+1, r+chunk {
		c := ts[r:min(r+chunk, len(ts))]
		if i%valEvery == valEvery-1 {
			val = append(val, c...)
			continue
		}
		w += copy(ts[w:], c) // w <= r, so this never overwrites unread tokens
	}
	how = fmt.Sprintf("every %dth chunk of %d tokens is validation", valEvery, chunk)
	return ts[:w:w], val, how
}
