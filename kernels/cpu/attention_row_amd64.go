// One query row's attention over a cache by the vector kernels: dot products, the forward's padded softmax row, FMA sums of the values.

package cpu

import "math"

// attnRowVec is onlineRow's result (the attention of the query at row t
// over rows 0..t, into out) by the vector kernels: every score by dotVec,
// their softmax by softmaxRow (padded with -Inf to a multiple of 8, so its
// lanes depend on t alone), the values summed by fmaInto in key order,
// then scaled by the sum's inverse. scores has room for t+1 rounded up to 8.
func attnRowVec(out, qkv, scores []float32, t, C, hs int) {
	C3 := 3 * C
	scale := float32(1 / math.Sqrt(float64(hs)))
	q := qkv[t*C3:][:hs]
	for j := 0; j <= t; j++ {
		scores[j] = dotVec(q, qkv[j*C3+C:][:hs]) * scale
	}
	l := softmaxRow(scores, t, maxOf(scores[:t+1]))
	clear(out)
	for j := 0; j <= t; j++ {
		fmaInto(out, qkv[j*C3+2*C:][:hs], scores[j])
	}
	scaleC(out, 1/l)
}
