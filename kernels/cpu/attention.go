// Attention: causal multi-head attention, forward by online softmax and backward by recomputation from lse (the generic path; attention_gemm_amd64.go is the SIMD one).

package cpu

import (
	"math"

	"baton/kernels"
)

// Scores and probabilities are float32 (exp is expf, mathf.go); the softmax
// denominator is summed in float64 and lse's log taken in float64. Dot
// products over a head (hs terms) use four float32 partial sums: fast, and
// their order depends on hs alone.

type attnTask struct {
	out, lse, qkv []float32
	dqkv, dout    []float32
	T, C, NH      int
}

var attnTasks taskPool[attnTask]

// AttentionForward: out (B,T,C) and lse (B,NH,T) from qkv (B,T,3C), causal,
// scores scaled by 1/sqrt(hs). Items are query rows (b, h, t) in lse order;
// each is a single pass of online softmax over keys 0..t, with out's own row
// as the accumulator, so no (T,T) buffer and no scratch memory exist.
func (o *Ops) AttentionForward(out, lse, qkv kernels.Buffer, B, T, C, NH int) {
	mustHeads("AttentionForward", C, NH)
	t := attnTasks.get()
	*t = attnTask{
		out: need("AttentionForward", "out", out, B*T*C),
		lse: need("AttentionForward", "lse", lse, B*NH*T),
		qkv: need("AttentionForward", "qkv", qkv, B*T*3*C),
		T:   T, C: C, NH: NH,
	}
	if o.simd != nil {
		o.simd.attnForward(o, t, B)
	} else {
		n := B * NH * T
		o.parallel(n, o.grain(n, 2*T*C/NH), forwardRows{t})
	}
	attnTasks.put(t)
}

// forwardRows and backwardHeads give attnTask the two run methods of its passes.
type forwardRows struct{ *attnTask }
type backwardHeads struct{ *attnTask }

func (a forwardRows) run(lo, hi int) {
	T, C, NH := a.T, a.C, a.NH
	hs := C / NH
	for row := lo; row < hi; row++ {
		t := row % T
		h := row / T % NH
		b := row / T / NH
		a.lse[row] = onlineRow(a.out[(b*T+t)*C+h*hs:][:hs], a.qkv[b*T*3*C+h*hs:], t, C, hs)
	}
}

// AttentionBackward: dqkv (B,T,3C) from dout (B,T,C), recomputing
// p = exp(s - lse) and using D = dout·out per query. Items are heads (b, h):
// every dk, dv row of a head is summed by one goroutine in query order, so
// there are no races and no order that depends on the workers.
func (o *Ops) AttentionBackward(dqkv, dout, qkv, out, lse kernels.Buffer, B, T, C, NH int) {
	mustHeads("AttentionBackward", C, NH)
	t := attnTasks.get()
	*t = attnTask{
		dqkv: need("AttentionBackward", "dqkv", dqkv, B*T*3*C),
		dout: need("AttentionBackward", "dout", dout, B*T*C),
		qkv:  need("AttentionBackward", "qkv", qkv, B*T*3*C),
		out:  need("AttentionBackward", "out", out, B*T*C),
		lse:  need("AttentionBackward", "lse", lse, B*NH*T),
		T:    T, C: C, NH: NH,
	}
	if o.simd != nil {
		o.simd.attnBackward(o, t, B)
	} else {
		n := B * NH
		o.parallel(n, o.grain(n, 5*T*T*C/NH), backwardHeads{t})
	}
	attnTasks.put(t)
}

func (a backwardHeads) run(lo, hi int) {
	T, C, NH := a.T, a.C, a.NH
	hs := C / NH
	C3 := 3 * C
	scale := float32(1 / math.Sqrt(float64(hs)))
	for bh := lo; bh < hi; bh++ {
		b, h := bh/NH, bh%NH
		for t := 0; t < T; t++ {
			base := (b*T+t)*C3 + h*hs
			clear(a.dqkv[base : base+hs])
			clear(a.dqkv[base+C : base+C+hs])
			clear(a.dqkv[base+2*C : base+2*C+hs])
		}
		for t := 0; t < T; t++ {
			q := a.qkv[(b*T+t)*C3+h*hs:][:hs]   // (hs)
			dq := a.dqkv[(b*T+t)*C3+h*hs:][:hs] // (hs)
			do := a.dout[(b*T+t)*C+h*hs:][:hs]  // (hs)
			D := dot(do, a.out[(b*T+t)*C+h*hs:][:hs])
			L := a.lse[bh*T+t]
			for t2 := 0; t2 <= t; t2++ {
				kv := a.qkv[(b*T+t2)*C3+C+h*hs:]
				dkv := a.dqkv[(b*T+t2)*C3+C+h*hs:]
				k, v := kv[:hs], kv[C:C+hs]
				dk, dv := dkv[:hs], dkv[C:C+hs]
				p := expf(dot(q, k)*scale - L)
				ds := p * (dot(do, v) - D) * scale // dL/d(q·k)
				axpy(p, do, dv)
				axpy(ds, k, dq)
				axpy(ds, q, dk)
			}
		}
	}
}

// mustHeads panics unless NH divides C: a broken shape, not a runtime condition.
func mustHeads(op string, C, NH int) {
	if NH <= 0 || C%NH != 0 {
		panic("cpu: " + op + ": C is not a positive multiple of NH")
	}
}

// dot returns x·y (len(y) >= len(x)) with four partial sums.
func dot(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpy: y += a*x (len(y) >= len(x)).
func axpy(a float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

// scaleVec: x *= a.
func scaleVec(x []float32, a float32) {
	for i := range x {
		x[i] *= a
	}
}
