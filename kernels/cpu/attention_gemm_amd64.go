// Attention by GEMMs: each head's scores and the products around them on the packed micro-kernel, softmax rows by the vector exp.

package cpu

import "math"

// The generic attention walks keys one at a time (dot, axpy); here a head
// is a handful of small matrix products, (T, hs) by (hs, T) and back, on
// the GEMM micro-kernel, with the (T, T) scores of one head in a scratch
// per worker. The products skip, register block by register block, what
// the causal mask makes zero (gemm_triangle_amd64.go), and the mask itself
// is applied to the probabilities. Items are heads (b, h), each done by one goroutine
// in a fixed order, so the worker count changes no bit, and neither does B
// (a micro-batch's heads are computed as in the full batch).

// oneWorker runs a head's GEMMs inline, in the goroutine that owns the head.
var oneWorker = &Ops{workers: 1}

// headBufs is one worker's scratch: p (T, Tp) the scores, then the
// probabilities; dp (T, Tp) their gradient; inv (T) per-row factors.
type headBufs struct{ p, dp, inv []float32 }

var headBufsFree freeList[headBufs]

func getHeadBufs(T, Tp int) *headBufs {
	h := headBufsFree.get()
	if cap(h.p) < T*Tp {
		h.p, h.dp = make([]float32, T*Tp), make([]float32, T*Tp)
	}
	if cap(h.inv) < T {
		h.inv = make([]float32, T)
	}
	h.p, h.dp, h.inv = h.p[:T*Tp], h.dp[:T*Tp], h.inv[:T]
	return h
}

// gemmForward and gemmBackward give attnTask the run methods of this path.
type gemmForward struct{ *attnTask }
type gemmBackward struct{ *attnTask }

func attentionForwardGEMM(o *Ops, a *attnTask, B int) {
	n := B * a.NH
	o.parallel(n, o.grain(n, 4*a.T*a.T*a.C/a.NH), gemmForward{a})
}

func attentionBackwardGEMM(o *Ops, a *attnTask, B int) {
	n := B * a.NH
	o.parallel(n, o.grain(n, 10*a.T*a.T*a.C/a.NH), gemmBackward{a})
}

func (a gemmForward) run(lo, hi int) {
	T, C, NH := a.T, a.C, a.NH
	hs, Tp := C/NH, roundUp(T, 8)
	s := getHeadBufs(T, Tp)
	for bh := lo; bh < hi; bh++ {
		b, h := bh/NH, bh%NH
		qkv := a.qkv[b*T*3*C+h*hs:] // q at 0, k at C, v at 2C; rows 3C apart
		a.scores(s.p, qkv, Tp)
		for t := 0; t < T; t++ {
			row := s.p[t*Tp : (t+1)*Tp]
			m := maxOf(row[:t+1])
			l := softmaxRow(row, t, m)
			a.lse[bh*T+t] = float32(float64(m) + math.Log(float64(l)))
			s.inv[t] = 1 / l
		}
		out := a.out[b*T*C+h*hs:] // (T, hs), rows C apart
		oneWorker.gemmStrided(gemmArgs{M: T, N: hs, K: T, alpha: 1, a: s.p, b: qkv[2*C:], c: out}, Tp, 3*C, C, lowerA)
		for t := 0; t < T; t++ {
			scaleC(out[t*C:t*C+hs], s.inv[t])
		}
	}
	headBufsFree.put(s)
}

// scores sets p (T, Tp) = q kᵀ / sqrt(hs) on and below the diagonal; the
// register blocks wholly above it keep what they held.
func (a *attnTask) scores(p, qkv []float32, Tp int) {
	T, C := a.T, a.C
	hs := C / a.NH
	scale := float32(1 / math.Sqrt(float64(hs)))
	oneWorker.gemmStrided(gemmArgs{transB: true, M: T, N: T, K: hs, alpha: scale, a: qkv, b: qkv[C:], c: p}, 3*C, 3*C, Tp, lowerC)
}

// softmaxRow turns row t of the scores into e^(s - shift) over keys 0..t
// and zero beyond, and returns the sum over keys 0..t. It pads the keys
// to a multiple of 8 with -Inf, so the sum's lanes depend on t alone.
func softmaxRow(row []float32, t int, shift float32) float32 {
	n8 := roundUp(t+1, 8)
	for i := t + 1; i < n8; i++ {
		row[i] = float32(math.Inf(-1))
	}
	l := expShift(&row[0], n8, 1, shift)
	clear(row[n8:])
	return l
}

func (a gemmBackward) run(lo, hi int) {
	T, C, NH := a.T, a.C, a.NH
	hs, Tp := C/NH, roundUp(T, 8)
	scale := float32(1 / math.Sqrt(float64(hs)))
	s := getHeadBufs(T, Tp)
	for bh := lo; bh < hi; bh++ {
		b, h := bh/NH, bh%NH
		qkv := a.qkv[b*T*3*C+h*hs:]
		dqkv := a.dqkv[b*T*3*C+h*hs:]
		dout := a.dout[b*T*C+h*hs:] // (T, hs), rows C apart
		out := a.out[b*T*C+h*hs:]
		a.scores(s.p, qkv, Tp)
		for t := 0; t < T; t++ {
			softmaxRow(s.p[t*Tp:(t+1)*Tp], t, a.lse[bh*T+t])
		}
		oneWorker.gemmStrided(gemmArgs{transB: true, M: T, N: T, K: hs, alpha: 1, a: dout, b: qkv[2*C:], c: s.dp}, C, 3*C, Tp, lowerC)
		for t := 0; t < T; t++ {
			p, dp := s.p[t*Tp:(t+1)*Tp], s.dp[t*Tp:(t+1)*Tp]
			D := dotVec(dout[t*C:t*C+hs], out[t*C:t*C+hs])
			// dL/d(q·k) = p (dp - D) scale over keys 0..t; the padding
			// keys up to a multiple of 8 have p = 0 and are cleared anyway.
			softmaxGrad(&dp[0], &p[0], roundUp(t+1, 8), D, scale)
			clear(dp[t+1:])
		}
		oneWorker.gemmStrided(gemmArgs{M: T, N: hs, K: T, alpha: 1, a: s.dp, b: qkv[C:], c: dqkv}, Tp, 3*C, 3*C, lowerA)
		oneWorker.gemmStrided(gemmArgs{transA: true, M: T, N: hs, K: T, alpha: 1, a: s.dp, b: qkv, c: dqkv[C:]}, Tp, 3*C, 3*C, upperA)
		oneWorker.gemmStrided(gemmArgs{transA: true, M: T, N: hs, K: T, alpha: 1, a: s.p, b: dout, c: dqkv[2*C:]}, Tp, C, 3*C, upperA)
	}
	headBufsFree.put(s)
}
