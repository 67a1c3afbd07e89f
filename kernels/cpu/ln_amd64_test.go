// LayerNorm's backward weight and bias gradients: the vector path gives the generic loop's bits.

package cpu

import "testing"

// TestLayerNormBackwardColsISAs: dw and db (given mean and rstd) are the
// generic loop's float32 products and float64 sums in the same order on the
// vector path, so the same bits, for any column count's tail.
func TestLayerNormBackwardColsISAs(t *testing.T) {
	r := newRand(88)
	for _, C := range []int{8, 16, 75, 200} {
		const N = 13
		dout, inp, w := randF32(r, N*C), randF32(r, N*C), randF32(r, C)
		mean, rstd := randF32(r, N), randF32(r, N)
		dw0, db0 := randF32(r, C), randF32(r, C)
		var want []F32
		for _, isa := range hostISAs() {
			o := newOps(4, isa)
			dinp, dw, db := make(F32, N*C), cloneF32(dw0), cloneF32(db0)
			o.LayerNormBackward(dinp, dw, db, dout, inp, w, mean, rstd, N, C)
			if want == nil {
				want = []F32{dw, db}
				continue
			}
			sameBits(t, "dw", dw, want[0])
			sameBits(t, "db", db, want[1])
		}
	}
}
