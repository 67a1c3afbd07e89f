// Units of work for per-layer timing and balancing: the embedding, each decoder block, the head, in model order.

package model

import "strconv"

// EmbeddingUnit is the embedding's unit index; block l is BlockUnit(l) and
// the head (ln_f, the tied LM head and the loss) is HeadUnit.
const EmbeddingUnit = 0

// BlockUnit is decoder block l's unit index.
func BlockUnit(l int) int { return l + 1 }

// HeadUnit is the head's unit index.
func (c Config) HeadUnit() int { return c.L + 1 }

// Units is the number of units: the embedding, L blocks and the head.
func (c Config) Units() int { return c.L + 2 }

// UnitName names unit u as the checkpoint names its tensors: "embedding",
// "h.3", "head".
func (c Config) UnitName(u int) string {
	switch u {
	case EmbeddingUnit:
		return "embedding"
	case c.HeadUnit():
		return "head"
	}
	return "h." + strconv.Itoa(u-1)
}
