// LayerNorm: forward with saved statistics, and the backward for inputs, weights and biases.

package cpu

import (
	"math"

	"baton/kernels"
)

// lnEps is GPT-2's LayerNorm epsilon.
const lnEps = 1e-5

// Statistics and row reductions are summed in float64: C terms per row cost
// nothing beside the matmuls, and the two-pass variance in float64 cannot
// cancel catastrophically when |mean| >> std. Element-wise math stays
// float32, and the forward uses the float32 mean and rstd it saves, so the
// backward recomputes exactly the normalised values the forward produced.
// Every product that meets an add or a subtract is rounded by an explicit
// conversion, which the Go spec says no build may fuse away: a build for
// GOAMD64=v3 (or arm64) would otherwise take a*b+c as one FMA, so the bits
// would depend on how baton was compiled, and the vector rows
// (_asm/layernorm.go) round each product as this code does.

type lnTask struct {
	out, mean, rstd, inp, w, b []float32
	C                          int
	simd                       *simd
}

var lnTasks taskPool[lnTask]

// LayerNormForward: out (N,C) = (inp-mean)*rstd*w + b; saves mean, rstd (N).
func (o *Ops) LayerNormForward(out, mean, rstd, inp, w, b kernels.Buffer, N, C int) {
	t := lnTasks.get()
	*t = lnTask{
		out:  need("LayerNormForward", "out", out, N*C),
		mean: need("LayerNormForward", "mean", mean, N),
		rstd: need("LayerNormForward", "rstd", rstd, N),
		inp:  need("LayerNormForward", "inp", inp, N*C),
		w:    need("LayerNormForward", "w", w, C),
		b:    need("LayerNormForward", "b", b, C),
		C:    C,
		simd: o.simd,
	}
	o.parallel(N, o.grain(N, 8*C), t)
	lnTasks.put(t)
}

func (l *lnTask) run(lo, hi int) {
	C := l.C
	for n := lo; n < hi; n++ {
		x := l.inp[n*C : (n+1)*C] // (C)
		if l.simd != nil {
			l.mean[n], l.rstd[n] = l.simd.lnRow(l.out[n*C:(n+1)*C], x, l.w[:C], l.b[:C])
			continue
		}
		var sum float64
		for _, v := range x {
			sum += float64(v)
		}
		m := sum / float64(C)
		var ss float64
		for _, v := range x {
			d := float64(v) - m
			ss += float64(d * d)
		}
		m32 := float32(m)
		s32 := float32(1 / math.Sqrt(ss/float64(C)+lnEps))
		out := l.out[n*C : (n+1)*C] // (C)
		w, b := l.w[:C], l.b[:C]
		for i, v := range x {
			out[i] = float32((v-m32)*s32*w[i]) + b[i]
		}
		l.mean[n] = m32
		l.rstd[n] = s32
	}
}

// lnBackTask computes dinp (items are rows) or dw, db (items are column
// groups, each summing its rows in order 0..N-1), as rows says.
type lnBackTask struct {
	dinp, dw, db, dout, inp, w, mean, rstd []float32
	N, C                                   int
	rows                                   bool
	simd                                   *simd
}

var lnBackTasks taskPool[lnBackTask]

// LayerNormBackward: dinp (N,C) += (accumulates: the residual stream), dw, db (C) +=.
func (o *Ops) LayerNormBackward(dinp, dw, db, dout, inp, w, mean, rstd kernels.Buffer, N, C int) {
	t := lnBackTasks.get()
	*t = lnBackTask{
		dinp: need("LayerNormBackward", "dinp", dinp, N*C),
		dw:   need("LayerNormBackward", "dw", dw, C),
		db:   need("LayerNormBackward", "db", db, C),
		dout: need("LayerNormBackward", "dout", dout, N*C),
		inp:  need("LayerNormBackward", "inp", inp, N*C),
		w:    need("LayerNormBackward", "w", w, C),
		mean: need("LayerNormBackward", "mean", mean, N),
		rstd: need("LayerNormBackward", "rstd", rstd, N),
		N:    N, C: C, rows: true,
		simd: o.simd,
	}
	o.parallel(N, o.grain(N, 10*C), t)
	t.rows = false
	groups := (C + colSumWidth - 1) / colSumWidth
	o.parallel(groups, o.grain(groups, 6*N*colSumWidth), t)
	lnBackTasks.put(t)
}

func (l *lnBackTask) run(lo, hi int) {
	if l.rows {
		l.runRows(lo, hi)
	} else {
		l.runCols(lo, hi)
	}
}

// runRows: dinp += (dnorm - mean(dnorm) - norm*mean(dnorm*norm)) * rstd,
// where norm = (inp-mean)*rstd and dnorm = w*dout.
func (l *lnBackTask) runRows(lo, hi int) {
	C := l.C
	w := l.w[:C]
	for n := lo; n < hi; n++ {
		x := l.inp[n*C : (n+1)*C]   // (C)
		d := l.dout[n*C : (n+1)*C]  // (C)
		di := l.dinp[n*C : (n+1)*C] // (C)
		m, s := l.mean[n], l.rstd[n]
		if l.simd != nil {
			l.simd.lnBackRow(di, x, d, w, m, s)
			continue
		}
		var sumD, sumDN float64
		for i, v := range x {
			dnorm := w[i] * d[i]
			sumD += float64(dnorm)
			sumDN += float64(dnorm * ((v - m) * s))
		}
		meanD := float32(sumD / float64(C))
		meanDN := float32(sumDN / float64(C))
		for i, v := range x {
			norm := (v - m) * s
			di[i] += float32((float32(w[i]*d[i]) - meanD - float32(norm*meanDN)) * s)
		}
	}
}

// runCols: dw += sum over rows of norm*dout, db += sum of dout.
func (l *lnBackTask) runCols(lo, hi int) {
	C := l.C
	for g := lo; g < hi; g++ {
		c0, c1 := g*colSumWidth, min((g+1)*colSumWidth, C)
		if l.simd != nil {
			l.simd.lnBackCols(l.dw[c0:c1], l.db[c0:c1], l.inp[c0:], l.dout[c0:], l.mean, l.rstd, l.N, C)
			continue
		}
		var accW, accB [colSumWidth]float64
		aw, ab := accW[:c1-c0], accB[:c1-c0]
		for n := 0; n < l.N; n++ {
			x := l.inp[n*C+c0 : n*C+c1]  // (c1-c0)
			d := l.dout[n*C+c0 : n*C+c1] // (c1-c0)
			m, s := l.mean[n], l.rstd[n]
			for i, v := range x {
				aw[i] += float64((v - m) * s * d[i])
				ab[i] += float64(d[i])
			}
		}
		for i := range aw {
			l.dw[c0+i] += float32(aw[i])
			l.db[c0+i] += float32(ab[i])
		}
	}
}
