// AttendRow, one query row over a cache, is the forward's row: to the bit on the generic path, within float32 rounding on the SIMD ones.

package cpu

import (
	"math"
	"runtime"
	"testing"
)

// TestAttendRowIsTheForwardsRow: for every position p of a sequence (sizes
// no SIMD width divides), AttendRow over rows 0..p gives row p of
// AttentionForward over the whole sequence: the same bits on the generic
// path, whose forward walks each row alone, and within 1e-5 of the row's
// largest value on the SIMD paths, whose forward tiles the rows into GEMMs.
func TestAttendRowIsTheForwardsRow(t *testing.T) {
	const T, C, NH = 37, 48, 3
	r := newRand(81)
	qkv := randF32(r, T*3*C)
	for i := range qkv { // scores far from uniform, as a trained model's are
		qkv[i] *= 4
	}
	for _, is := range hostISAs() {
		t.Run(is.String(), func(t *testing.T) {
			o := newOps(runtime.GOMAXPROCS(0), is)
			want, lse := make(F32, T*C), make(F32, NH*T)
			o.AttentionForward(want, lse, qkv, 1, T, C, NH)
			got := make(F32, C)
			for p := range T {
				o.AttendRow(got, qkv[:(p+1)*3*C], p, C, NH)
				row := want[p*C : (p+1)*C]
				scale := 0.0
				for _, w := range row {
					scale = max(scale, math.Abs(float64(w)))
				}
				for c := range row {
					d := math.Abs(float64(got[c] - row[c]))
					if is == generic && got[c] != row[c] || !(d <= 1e-5*scale) {
						t.Fatalf("position %d, column %d: %v from AttendRow, %v from the forward (differs by %.2g of the row's scale %.3g)", p, c, got[c], row[c], d/scale, scale)
					}
				}
			}
		})
	}
}
