//go:build cuda

// AdamW: the optimizer update (of float32 parameters, or of bf16 parameters
// through their float32 masters, with the rounding of their bf16 copies set by
// SetBF16Rounding), and SumSquares, the float64 sum of squares used for
// gradient norms (a fixed two-pass reduction, so the same on every run).

package cuda

import (
	"fmt"
	"math"
	"unsafe"

	"gorgonia.org/cu"

	"baton/kernels"
)

// SumSquares geometry: sumsq_partial runs sumSqBlock threads per block and
// ceil(n/sumSqPerBlock) blocks, at most sumSqMaxBlocks (the grid-stride then
// covers the rest); sumsq_final adds the partial sums with one block of
// sumSqFinalBlock threads. All of it depends on n alone, so the order of the
// additions does too.
const (
	sumSqBlock      = 256
	sumSqPerBlock   = 1 << 14
	sumSqMaxBlocks  = 1024
	sumSqFinalBlock = 1024
)

// SetBF16Rounding sets how AdamW writes a bf16 parameter (kernels.Weights under
// kernels.BF16) from its updated float32 master from now on: to the nearest
// bf16, ties to even (stochastic false, the default); or stochastically, up or
// down with the probabilities that make the rounded value the master on
// average, from random bits that are a hash of seed, the tensor's
// kernels.AdamParams.Seed, the step t of the AdamW call and the element's index
// in the params buffer given to it, so a run repeats bit for bit on any layout.
// The masters are the same either way; float32 parameters are unaffected. Not
// safe to call concurrently with AdamW.
func (o *Ops) SetBF16Rounding(stochastic bool, seed uint64) {
	o.stochastic, o.roundSeed = stochastic, seed
}

// AdamW updates params (N) in place from grads*gradScale with moments m, v;
// t is the 1-based step for bias correction (1-beta^t, computed here in
// float64 as the CPU does). Decoupled weight decay. Under kernels.BF16, params
// is a bf16 parameter with a float32 master (AllocAs(N, kernels.Weights)) and
// grads bf16: the master is updated as a float32 parameter is, and the bf16
// copy rewritten from it (see SetBF16Rounding); m and v are float32 always.
func (o *Ops) AdamW(params, grads, m, v kernels.Buffer, N int, p kernels.AdamParams, gradScale float32, t int) {
	const op = "AdamW"
	cl := call{op, "N t", [4]int{N, t}}
	if t < 1 {
		cl.fail("step t is 1-based and must be at least 1")
	}
	empty := cl.checkDims(N)
	cl.checkLen("params", params, N, false)
	cl.checkLen("grads", grads, N, false)
	cl.checkLen("m", m, N, false)
	cl.checkLen("v", v, N, false)
	cl.exact("m", m)
	cl.exact("v", v)
	bf16 := cl.storage("params grads", params, grads)
	if pb, ok := params.(Buf); ok && bf16 && pb.Master == 0 {
		cl.fail("params is bf16 without a float32 master: allocate it with AllocAs(n, kernels.Weights)")
	}
	if empty {
		return
	}
	pParams, pGrads, pM, pV := dptr(op, params), dptr(op, grads), dptr(op, m), dptr(op, v)
	n := i32(N)
	lr, b1, b2, eps, wd, gs := p.LR, p.Beta1, p.Beta2, p.Eps, p.WeightDecay, gradScale
	bc1 := float32(1 - math.Pow(float64(p.Beta1), float64(t)))
	bc2 := float32(1 - math.Pow(float64(p.Beta2), float64(t)))
	if bf16 {
		// The tensor's seed through a multiplication by an odd constant, so
		// that tensors whose seeds differ in a few bits get unrelated streams.
		seed := o.roundSeed ^ p.Seed*0x9e3779b97f4a7c15
		pMaster, stochastic, step := asBuf(op, params).Master, int32(0), int32(t)
		if o.stochastic {
			stochastic = 1
		}
		if t > math.MaxInt32 {
			cl.fail("step t must be below 2^31")
		}
		o.launch(op, "adamw_update_bf16", eltGridBF16(N), eltBlock, 0,
			unsafe.Pointer(&pParams), unsafe.Pointer(&pMaster), unsafe.Pointer(&pGrads), unsafe.Pointer(&pM), unsafe.Pointer(&pV),
			unsafe.Pointer(&n), unsafe.Pointer(&lr), unsafe.Pointer(&b1), unsafe.Pointer(&b2), unsafe.Pointer(&eps),
			unsafe.Pointer(&wd), unsafe.Pointer(&gs), unsafe.Pointer(&bc1), unsafe.Pointer(&bc2),
			unsafe.Pointer(&stochastic), unsafe.Pointer(&seed), unsafe.Pointer(&step))
		return
	}
	o.launch(op, "adamw_update", eltGrid(N, eltBlock), eltBlock, 0,
		unsafe.Pointer(&pParams), unsafe.Pointer(&pGrads), unsafe.Pointer(&pM), unsafe.Pointer(&pV), unsafe.Pointer(&n),
		unsafe.Pointer(&lr), unsafe.Pointer(&b1), unsafe.Pointer(&b2), unsafe.Pointer(&eps), unsafe.Pointer(&wd),
		unsafe.Pointer(&gs), unsafe.Pointer(&bc1), unsafe.Pointer(&bc2))
}

// RoundWeights rewrites the bf16 copy of params (a kernels.Weights buffer
// under kernels.BF16) from its float32 master as AdamW's step t with
// kernels.AdamParams.Seed seed rounded it: for a parameter written from the
// host (a checkpoint, a move between ranks), whose Upload rounds to
// nearest. Without stochastic rounding that copy is AdamW's already, and
// float32 parameters have none: it does nothing then.
func (o *Ops) RoundWeights(params kernels.Buffer, seed uint64, t int) {
	const op = "RoundWeights"
	pb, ok := params.(Buf)
	if !o.stochastic || !ok || !pb.BF16 || pb.N == 0 {
		return
	}
	cl := call{op, "N t", [4]int{pb.N, t}}
	if pb.Master == 0 {
		cl.fail("params is bf16 without a float32 master: allocate it with AllocAs(n, kernels.Weights)")
	}
	if t < 1 || t > math.MaxInt32 {
		cl.fail("step t must be from 1 to 2^31-1")
	}
	pParams, pMaster, n, step := pb.Ptr, pb.Master, i32(pb.N), int32(t)
	seed = o.roundSeed ^ seed*0x9e3779b97f4a7c15 // as AdamW mixes it
	o.launch(op, "round_weights_bf16", eltGrid(pb.N, eltBlock), eltBlock, 0,
		unsafe.Pointer(&pParams), unsafe.Pointer(&pMaster), unsafe.Pointer(&n), unsafe.Pointer(&seed), unsafe.Pointer(&step))
}

// SumSquares sets sums[i] = sum(bufs[i][j]^2), accumulated in float64 in an
// order fixed by the length alone (of the values Download gives: a bf16
// buffer's widened exactly, a bf16 parameter's float32 master): per buffer, per-block partial sums
// (sumsq_partial), then one block adding them by a fixed tree (sumsq_final)
// into the buffer's result slot. Then one copy of all the results to the
// host, which waits for the stream: one synchronisation for a whole stage's
// gradients. The results and partial sums live in one scratch block from o's
// allocator, handed back once the copy is done.
func (o *Ops) SumSquares(sums []float64, bufs []kernels.Buffer) {
	const op = "SumSquares"
	mustSameLen(op, len(sums), len(bufs))
	srcs := make([]Buf, len(bufs))
	slots := len(bufs) // float64s in the scratch: the results, then the partial sums
	for i, b := range bufs {
		srcs[i] = asBuf(op, b)
		if srcs[i].Int {
			panic(fmt.Sprintf("cuda: SumSquares: buffer %d is int32, not float32", i))
		}
		slots += sumSqGrid(srcs[i].N)
	}
	if len(bufs) == 0 {
		return
	}
	scratch, err := o.alloc.TryAlloc(2 * slots)
	if err != nil {
		panic(fmt.Errorf("cuda: SumSquares(%d buffers): scratch: %w", len(bufs), err))
	}
	defer o.alloc.Free(scratch)
	pPartial := scratch.Ptr + cu.DevicePtr(8*len(bufs))
	for i, src := range srcs {
		G := sumSqGrid(src.N)
		if G == 0 {
			continue
		}
		pResult, pX := scratch.Ptr+cu.DevicePtr(8*i), src.Ptr
		kernel := "sumsq_partial"
		switch {
		case src.Master != 0:
			pX = src.Master
		case src.BF16:
			kernel = "sumsq_partial_bf16"
		}
		nn, g := int64(src.N), i32(G)
		o.launch(op, kernel, G, sumSqBlock, 0,
			unsafe.Pointer(&pPartial), unsafe.Pointer(&pX), unsafe.Pointer(&nn))
		o.launch(op, "sumsq_final", 1, sumSqFinalBlock, 0,
			unsafe.Pointer(&pResult), unsafe.Pointer(&pPartial), unsafe.Pointer(&g))
		pPartial += cu.DevicePtr(8 * G)
	}
	o.Download(unsafe.Slice((*float32)(unsafe.Pointer(&sums[0])), 2*len(sums)), Buf{Ptr: scratch.Ptr, N: 2 * len(sums)})
	for i, src := range srcs {
		if src.N == 0 {
			sums[i] = 0 // no kernel wrote its slot
		}
	}
}

// sumSqGrid is the number of blocks (and partial sums) of sumsq_partial for n
// elements: 0 for none.
func sumSqGrid(n int) int {
	return min(sumSqMaxBlocks, (n+sumSqPerBlock-1)/sumSqPerBlock)
}
