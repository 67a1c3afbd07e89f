// AdamW: the optimizer update and the float64 sum of squares used for gradient norms.

package cpu

import (
	"fmt"
	"math"

	"baton/kernels"
)

type adamTask struct {
	params, grads, m, v []float32
	p                   kernels.AdamParams
	gradScale           float32
	bc1, bc2            float32 // 1 - beta^t: the bias corrections
	simd                *simd
}

var adamTasks taskPool[adamTask]

// RoundWeights does nothing: CPU parameters are float32, with no bf16 copy.
func (o *Ops) RoundWeights(params kernels.Buffer, seed uint64, t int) {}

// AdamW updates params (N) in place from grads*gradScale with moments m, v:
//
//	m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g²
//	p -= lr * (m/(1-b1^t) / (sqrt(v/(1-b2^t)) + eps) + wd p)
//
// Element-wise float32 math; the bias corrections are computed in float64.
func (o *Ops) AdamW(params, grads, m, v kernels.Buffer, N int, p kernels.AdamParams, gradScale float32, t int) {
	if t < 1 {
		panic("cpu: AdamW: step t is 1-based and must be at least 1")
	}
	task := adamTasks.get()
	*task = adamTask{
		params:    need("AdamW", "params", params, N),
		grads:     need("AdamW", "grads", grads, N),
		m:         need("AdamW", "m", m, N),
		v:         need("AdamW", "v", v, N),
		p:         p,
		gradScale: gradScale,
		bc1:       float32(1 - math.Pow(float64(p.Beta1), float64(t))),
		bc2:       float32(1 - math.Pow(float64(p.Beta2), float64(t))),
		simd:      o.simd,
	}
	o.parallel(N, o.grain(N, 20), task)
	adamTasks.put(task)
}

func (a *adamTask) run(lo, hi int) {
	if a.simd != nil {
		a.simd.adamW(a, lo, hi)
		return
	}
	p := a.p
	params, grads, m, v := a.params[lo:hi], a.grads[lo:hi], a.m[lo:hi], a.v[lo:hi]
	grads, m, v = grads[:len(params)], m[:len(params)], v[:len(params)]
	for i, w := range params {
		g := grads[i] * a.gradScale
		mi := p.Beta1*m[i] + (1-p.Beta1)*g
		vi := p.Beta2*v[i] + (1-p.Beta2)*g*g
		m[i], v[i] = mi, vi
		mhat := mi / a.bc1
		vhat := vi / a.bc2
		params[i] = w - p.LR*(mhat/(float32(math.Sqrt(float64(vhat)))+p.Eps)+p.WeightDecay*w)
	}
}

// sumSqChunk is the block size of SumSquares: each block is summed on its
// own, then the block sums are added in order. Blocks depend on the length
// alone, so the result is the same for any number of workers.
const sumSqChunk = 1 << 14

type sumSqTask struct {
	x       []float32
	partial []float64 // one per block
	chunk   int
	simd    *simd
}

// sumSqMaxBlocks bounds the partial sums kept in a pooled array; longer
// buffers use proportionally bigger blocks.
const sumSqMaxBlocks = 256

type sumSqState struct {
	sumSqTask
	store [sumSqMaxBlocks]float64
}

var sumSqTasks taskPool[sumSqState]

// SumSquares sets sums[i] = sum(bufs[i][j]^2) in float64, in an order fixed
// by the length.
func (o *Ops) SumSquares(sums []float64, bufs []kernels.Buffer) {
	if len(sums) != len(bufs) {
		panic(fmt.Sprintf("cpu: SumSquares: %d sums for %d buffers", len(sums), len(bufs)))
	}
	for i, b := range bufs {
		sums[i] = o.sumSquares(Floats(b))
	}
}

func (o *Ops) sumSquares(x []float32) float64 {
	n := len(x)
	if n == 0 {
		return 0
	}
	chunk := max(sumSqChunk, (n+sumSqMaxBlocks-1)/sumSqMaxBlocks)
	blocks := (n + chunk - 1) / chunk
	s := sumSqTasks.get()
	s.sumSqTask = sumSqTask{x: x, partial: s.store[:blocks], chunk: chunk, simd: o.simd}
	o.parallel(blocks, o.grain(blocks, 2*chunk), &s.sumSqTask)
	var total float64
	for _, p := range s.partial {
		total += p
	}
	sumSqTasks.put(s)
	return total
}

func (s *sumSqTask) run(lo, hi int) {
	for blk := lo; blk < hi; blk++ {
		x := s.x[blk*s.chunk : min((blk+1)*s.chunk, len(s.x))]
		if s.simd != nil {
			s.partial[blk] = s.simd.sumSquares(x)
			continue
		}
		var acc float64
		for _, v := range x {
			acc += float64(v) * float64(v)
		}
		s.partial[blk] = acc
	}
}
