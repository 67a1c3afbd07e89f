// Triangles: the parts of a product that causal attention knows to be zero or unwanted, and the K range they leave each register block.

package cpu

// triangle tells gemmStrided which terms or outputs to skip. Skipped terms
// are exact zeros of op(a), so the sums are those of the full product (up
// to the sign of a zero sum, and NaN from an Inf in b times such a zero);
// either way what is skipped depends on the shape alone, so results stay
// deterministic.
type triangle int

const (
	full   triangle = iota
	lowerC          // only c's lower triangle (j <= i) is wanted: blocks wholly above it are not written
	lowerA          // op(a)[i][k] is zero for k > i (probabilities times values)
	upperA          // op(a)[i][k] is zero for k < i (their transposes)
)

// kRange is the part [ks, ke) of the K block [kb, kb+kc) (offsets from
// the span's k0) that the register block at block row ir and column jr
// needs.
func (t *packedTask) kRange(ir, jr, kb, kc int) (ks, ke int) {
	row, col := t.i0+ir, t.j0+jr // the register block's first row and column of c
	k0 := t.k0 + kb              // the K block's first k
	switch t.tri {
	case lowerC:
		if col >= row+mr {
			return 0, 0
		}
	case lowerA:
		return kb, kb + min(kc, row+mr-k0)
	case upperA:
		return kb + max(0, row-k0), kb + kc
	}
	return kb, kb + kc
}
