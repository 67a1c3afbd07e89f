// Attention of one query row over a cache of keys and values: what a decoder runs for each new position, in O(p) rather than a forward pass's O(p²).

package cpu

import (
	"math"

	"baton/kernels"
)

// rowTask is one AttendRow call: the query at position p of qkv (p+1 rows
// of 3C) attends over rows 0..p; items are heads.
type rowTask struct {
	out, qkv []float32
	p, C, NH int
	simd     *simd
}

var rowTasks taskPool[rowTask]

// rowScores is a worker's scratch for one head's scores (p+1, padded to 8).
var rowScores freeList[[]float32]

// AttendRow sets out (C) to the causal self-attention of position p's
// query in qkv (at least p+1 rows of 3C) over the keys and values of
// positions 0..p, head by head: kernels.RowAttention, for a decoder with a
// cache. The generic path is the generic forward's row (forwardRows) to
// the bit; the SIMD path sums as its own kernels do.
func (o *Ops) AttendRow(out, qkv kernels.Buffer, p, C, NH int) {
	mustHeads("AttendRow", C, NH)
	t := rowTasks.get()
	*t = rowTask{out: need("AttendRow", "out", out, C), qkv: need("AttendRow", "qkv", qkv, (p+1)*3*C), p: p, C: C, NH: NH, simd: o.simd}
	o.parallel(NH, o.grain(NH, 4*(p+1)*C/NH), t)
	rowTasks.put(t)
}

func (t *rowTask) run(lo, hi int) {
	hs := t.C / t.NH
	if t.simd == nil {
		for h := lo; h < hi; h++ {
			onlineRow(t.out[h*hs:][:hs], t.qkv[h*hs:], t.p, t.C, hs)
		}
		return
	}
	s := rowScores.get()
	*s = grow(*s, (t.p+8)&^7)
	for h := lo; h < hi; h++ {
		t.simd.attnRow(t.out[h*hs:][:hs], t.qkv[h*hs:], *s, t.p, t.C, hs)
	}
	rowScores.put(s)
}

// onlineRow sets acc (hs) to the attention of the query at row t of qkv
// (q at 0, k at C, v at 2C; rows 3C apart, this head's columns first) over
// rows 0..t, by online softmax, and returns the row's log-sum-exp: one
// query row of the generic forward.
func onlineRow(acc, qkv []float32, t, C, hs int) float32 {
	C3 := 3 * C
	scale := float32(1 / math.Sqrt(float64(hs)))
	q := qkv[t*C3:][:hs]
	clear(acc)
	m := float32(math.Inf(-1)) // running max of the scaled scores
	var l float64              // running sum of exp(score - m)
	for t2 := 0; t2 <= t; t2++ {
		kv := qkv[t2*C3+C:]
		s := dot(q, kv[:hs]) * scale
		if s > m {
			if l != 0 {
				corr := expf(m - s)
				l *= float64(corr)
				scaleVec(acc, corr)
			}
			m = s
		}
		p := expf(s - m)
		l += float64(p)
		axpy(p, kv[C:C+hs], acc)
	}
	scaleVec(acc, float32(1/l))
	return float32(float64(m) + math.Log(l))
}
