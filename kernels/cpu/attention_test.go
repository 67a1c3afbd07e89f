package cpu

import (
	"fmt"
	"math"
	"testing"
)

// attention64 is the naive reference: the full masked score row, softmax,
// weighted sum of values. Returns out (B,T,C) and lse (B,NH,T).
func attention64(qkv []float64, B, T, C, NH int) (out, lse []float64) {
	hs := C / NH
	scale := 1 / math.Sqrt(float64(hs))
	out, lse = make([]float64, B*T*C), make([]float64, B*NH*T)
	s := make([]float64, T)
	for b := 0; b < B; b++ {
		for h := 0; h < NH; h++ {
			for t := 0; t < T; t++ {
				q := qkv[(b*T+t)*3*C+h*hs:][:hs]
				m := math.Inf(-1)
				for t2 := 0; t2 <= t; t2++ {
					k := qkv[(b*T+t2)*3*C+C+h*hs:][:hs]
					s[t2] = 0
					for i := range q {
						s[t2] += q[i] * k[i]
					}
					s[t2] *= scale
					m = max(m, s[t2])
				}
				var sum float64
				for t2 := 0; t2 <= t; t2++ {
					sum += math.Exp(s[t2] - m)
				}
				o := out[(b*T+t)*C+h*hs:][:hs]
				for t2 := 0; t2 <= t; t2++ {
					p := math.Exp(s[t2]-m) / sum
					v := qkv[(b*T+t2)*3*C+2*C+h*hs:][:hs]
					for i := range o {
						o[i] += p * v[i]
					}
				}
				lse[(b*NH+h)*T+t] = m + math.Log(sum)
			}
		}
	}
	return out, lse
}

func TestAttention(t *testing.T) {
	for _, s := range [][4]int{{2, 7, 6, 2}, {1, 7, 12, 3}, {2, 1, 4, 1}, {1, 5, 9, 3}} {
		B, T, C, NH := s[0], s[1], s[2], s[3]
		t.Run(fmt.Sprintf("B=%d,T=%d,C=%d,NH=%d", B, T, C, NH), func(t *testing.T) {
			r := newRand(uint64(30 + B*T*C*NH))
			o := New()
			qkv := randF32(r, B*T*3*C)
			for i := range qkv {
				qkv[i] *= 2 // sharper softmax: the online max changes often
			}
			R := randF32(r, B*T*C)
			qkv64, R64 := f64(qkv), f64(R)

			out, lse := make(F32, B*T*C), make(F32, B*NH*T)
			o.AttentionForward(out, lse, qkv, B, T, C, NH)
			out64, lse64 := attention64(qkv64, B, T, C, NH)
			checkClose(t, "out", out, out64, fwdTol)
			checkClose(t, "lse", lse, lse64, fwdTol)

			dqkv := make(F32, B*T*3*C)
			for i := range dqkv {
				dqkv[i] = float32(math.NaN()) // dqkv is overwritten, never read
			}
			o.AttentionBackward(dqkv, R, qkv, out, lse, B, T, C, NH)
			loss := func() float64 {
				out, _ := attention64(qkv64, B, T, C, NH)
				return dotR(out, R64)
			}
			checkClose(t, "dqkv", dqkv, fdGrad(qkv64, loss), bwdTol)
		})
	}
}
