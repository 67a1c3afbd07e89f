//go:build cuda

// The bf16 encoder backward keeps a recurring row's sum in float32: a dwte element is rounded once per call, not once per run of its token.

package cuda

import (
	"math"
	"testing"

	"baton/kernels"
)

// wteBucket is the row stride at which tokens share a bucket of
// encoder_backward_wte at C = 8 (one channel chunk: G = wteBlocks buckets).
const wteBucket = wteBlocks

// encoderBackwardRows runs EncoderBackward on BF16 storage with dwte's rows
// of the given tokens starting at start and every dout element d, for the
// token sequence toks; it returns dwte's rows of those tokens, downloaded.
func encoderBackwardRows(t *testing.T, toks []int32, rows []int32, V int, start, d float32) [][]float32 {
	t.Helper()
	o := testOps(t, kernels.BF16)
	const C = 8
	B, T := 1, len(toks)
	w := make([]float32, V*C)
	for _, r := range rows {
		for c := range C {
			w[int(r)*C+c] = start
		}
	}
	dout := make([]float32, B*T*C)
	for i := range dout {
		dout[i] = d
	}
	v := newViews(t, o, 0)
	dwte, dwpe := v.of(kernels.Working, w), v.of(kernels.Working, make([]float32, T*C))
	o.EncoderBackward(dwte, dwpe, v.of(kernels.Working, dout), v.ints(toks), B, T, C)
	all := make([]float32, V*C)
	o.Download(all, dwte)
	out := make([][]float32, len(rows))
	for i, r := range rows {
		out[i] = all[int(r)*C : int(r)*C+C]
	}
	return out
}

// TestEncoderBackwardBF16RoundsOnce: two tokens of one bucket alternate for
// 512 positions, each term 2⁻⁹, onto rows that hold 1. A quarter of bf16's
// ulp at 1 (2⁻⁷), each term vanishes when rounded on its own: a kernel that
// rounds at every change of row leaves 1; summed in float32 and rounded once,
// the 256 terms of each row make 1.5 exactly.
func TestEncoderBackwardBF16RoundsOnce(t *testing.T) {
	const V = 2 * wteBucket
	a, b := int32(5), int32(5+wteBucket)
	toks := make([]int32, 512)
	for i := range toks {
		toks[i] = a
		if i%2 == 1 {
			toks[i] = b
		}
	}
	for i, row := range encoderBackwardRows(t, toks, []int32{a, b}, V, 1, float32(math.Ldexp(1, -9))) {
		for c, x := range row {
			if x != 1.5 {
				t.Fatalf("row %d channel %d: %v, want 1.5 (256 terms of 2⁻⁹ onto 1, rounded once)", i, c, x)
			}
		}
	}
}

// TestEncoderBackwardBF16ManyRows: more rows of one bucket than a thread
// keeps sums for, interleaved, so rows give up their slots and come back
// (WTE_SLOTS is 8; 11 rows here, in an order that is not round-robin). Every
// term is 1 onto rows of 0, so every sum is exact in bf16 whatever the
// roundings: each row must end at its count of positions.
func TestEncoderBackwardBF16ManyRows(t *testing.T) {
	const nRows = 11
	const V = nRows * wteBucket
	rows := make([]int32, nRows)
	for k := range rows {
		rows[k] = int32(3 + k*wteBucket)
	}
	toks := make([]int32, 600)
	count := make([]int, nRows)
	for i := range toks {
		k := (7*i + i/5) % nRows // every row, revisited at uneven gaps
		toks[i] = rows[k]
		count[k]++
	}
	for k, n := range count {
		if n == 0 {
			t.Fatalf("row %d never comes: the test would not make rows give their slots up", k)
		}
	}
	for k, row := range encoderBackwardRows(t, toks, rows, V, 0, 1) {
		for c, x := range row {
			if x != float32(count[k]) {
				t.Fatalf("row %d (token %d) channel %d: %v, want %d", k, rows[k], c, x, count[k])
			}
		}
	}
}
