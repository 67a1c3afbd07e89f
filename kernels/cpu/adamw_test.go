// The gradient norm's sum of squares against a compensated float64 sum, across the CPU's blocks.

package cpu

import (
	"math"
	"testing"

	"baton/kernels"
	"baton/kernels/kernelstest"
)

// TestSumSquares: lengths around the CPU's block size and block count
// (sumSqChunk, sumSqMaxBlocks), against a compensated float64 sum.
func TestSumSquares(t *testing.T) {
	r := newRand(61)
	o := New()
	for _, n := range []int{0, 1, 1000, 3*sumSqChunk + 17, sumSqMaxBlocks*sumSqChunk + 5} {
		x := make(F32, n)
		for i := range x {
			x[i] = r.Float32()*2 - 1
		}
		// The reference is exact to ~1 ulp, so the blocked sum's own error
		// (about sqrt(block)·eps) is what the tolerance measures.
		want := kernelstest.SumSquares(x)
		var got [1]float64
		o.SumSquares(got[:], []kernels.Buffer{x})
		if math.Abs(got[0]-want) > 1e-13*max(want, 1) {
			t.Errorf("n=%d: SumSquares = %v, want %v", n, got[0], want)
		}
	}
}
