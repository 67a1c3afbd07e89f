// AttendRow, one query row over a cache, against a float64 reference and against the forward's row.

package cpu

import (
	"math"
	"runtime"
	"testing"
)

// attendRef is row p's attention in float64: softmax(q·k/√hs) over keys 0..p, times v.
func attendRef(qkv []float32, p, C, NH int) []float64 {
	hs := C / NH
	out := make([]float64, C)
	for h := range NH {
		q := qkv[p*3*C+h*hs:][:hs]
		s := make([]float64, p+1)
		top := math.Inf(-1)
		for j := range s {
			k := qkv[j*3*C+C+h*hs:][:hs]
			for e := range hs {
				s[j] += float64(q[e]) * float64(k[e])
			}
			s[j] /= math.Sqrt(float64(hs))
			top = max(top, s[j])
		}
		var sum float64
		for j := range s {
			s[j] = math.Exp(s[j] - top)
			sum += s[j]
		}
		for j := range s {
			v := qkv[j*3*C+2*C+h*hs:][:hs]
			for e := range hs {
				out[h*hs+e] += s[j] / sum * float64(v[e])
			}
		}
	}
	return out
}

// TestAttendRow: for every position p, AttendRow over rows 0..p is within
// 1e-4 of the row's largest value of a float64 reference on every
// instruction set, for head sizes SIMD widths divide and do not (16, 10,
// 7, 3, and GPT-2's 64 over 12 heads, enough work for the heads to run in
// parallel), with scores far from uniform; and on the generic path it is
// the forward's row to the bit (the two run one function).
func TestAttendRow(t *testing.T) {
	for _, c := range []struct{ T, C, NH int }{{37, 48, 3}, {20, 30, 3}, {9, 7, 1}, {5, 12, 4}, {130, 768, 12}} {
		r := newRand(uint64(81 + c.C))
		qkv := randF32(r, c.T*3*c.C)
		for i := range qkv {
			qkv[i] *= 4
		}
		for _, is := range hostISAs() {
			o := newOps(runtime.GOMAXPROCS(0), is)
			fwd, lse := make(F32, c.T*c.C), make(F32, c.NH*c.T)
			o.AttentionForward(fwd, lse, qkv, 1, c.T, c.C, c.NH)
			got := make(F32, c.C)
			for p := range c.T {
				o.AttendRow(got, qkv[:(p+1)*3*c.C], p, c.C, c.NH)
				want := attendRef(qkv, p, c.C, c.NH)
				scale := 0.0
				for _, w := range want {
					scale = max(scale, math.Abs(w))
				}
				for e := range want {
					if d := math.Abs(float64(got[e]) - want[e]); !(d <= 1e-4*scale) {
						t.Fatalf("%s, T=%d C=%d NH=%d, position %d, column %d: %v, float64 %v (off by %.2g of the row's scale %.3g)", is, c.T, c.C, c.NH, p, e, got[e], want[e], d/scale, scale)
					}
					if is == generic && got[e] != fwd[p*c.C+e] {
						t.Fatalf("generic, T=%d C=%d NH=%d, position %d, column %d: %v, the forward's row %v", c.T, c.C, c.NH, p, e, got[e], fwd[p*c.C+e])
					}
				}
			}
		}
	}
}
