//go:build cuda

// AdamW: the optimizer update, and SumSquares, the float64 sum of squares used
// for gradient norms (a fixed two-pass reduction, so the same on every run).

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

// AdamW updates params (N) in place from grads*gradScale with moments m, v;
// t is the 1-based step for bias correction (1-beta^t, computed here in
// float64 as the CPU does). Decoupled weight decay.
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
	if empty {
		return
	}
	pParams, pGrads, pM, pV := dptr(op, params), dptr(op, grads), dptr(op, m), dptr(op, v)
	n := i32(N)
	lr, b1, b2, eps, wd, gs := p.LR, p.Beta1, p.Beta2, p.Eps, p.WeightDecay, gradScale
	bc1 := float32(1 - math.Pow(float64(p.Beta1), float64(t)))
	bc2 := float32(1 - math.Pow(float64(p.Beta2), float64(t)))
	o.launch(op, "adamw_update", eltGrid(N, eltBlock), eltBlock, 0,
		unsafe.Pointer(&pParams), unsafe.Pointer(&pGrads), unsafe.Pointer(&pM), unsafe.Pointer(&pV), unsafe.Pointer(&n),
		unsafe.Pointer(&lr), unsafe.Pointer(&b1), unsafe.Pointer(&b2), unsafe.Pointer(&eps), unsafe.Pointer(&wd),
		unsafe.Pointer(&gs), unsafe.Pointer(&bc1), unsafe.Pointer(&bc2))
}

// SumSquares returns sum(b[i]^2) accumulated in float64, in an order fixed by
// the length alone: per-block partial sums (sumsq_partial), then one block
// adding them by a fixed tree (sumsq_final), then a copy of the one float64
// to the host, which waits for the stream. The partial sums live in a
// scratch block from o's allocator, handed back once the copy is done.
func (o *Ops) SumSquares(b kernels.Buffer) float64 {
	const op = "SumSquares"
	src := asBuf(op, b)
	if src.Int {
		panic("cuda: SumSquares: the buffer is int32, not float32")
	}
	n := src.N
	if n == 0 {
		return 0
	}
	G := min(sumSqMaxBlocks, (n+sumSqPerBlock-1)/sumSqPerBlock)
	// Scratch: G partial sums then the result, float64 each (two float32 slots).
	scratch, err := o.alloc.TryAlloc(2 * (G + 1))
	if err != nil {
		panic(fmt.Errorf("cuda: SumSquares(%d): scratch: %w", n, err))
	}
	defer o.alloc.Free(scratch)
	pPartial, pResult, pX := scratch.Ptr, scratch.Ptr+cu.DevicePtr(8*G), src.Ptr
	nn, g := int64(n), i32(G)
	o.launch(op, "sumsq_partial", G, sumSqBlock, 0,
		unsafe.Pointer(&pPartial), unsafe.Pointer(&pX), unsafe.Pointer(&nn))
	o.launch(op, "sumsq_final", 1, sumSqFinalBlock, 0,
		unsafe.Pointer(&pResult), unsafe.Pointer(&pPartial), unsafe.Pointer(&g))
	var total [1]float64
	o.Download(unsafe.Slice((*float32)(unsafe.Pointer(&total[0])), 2), Buf{Ptr: pResult, N: 2})
	return total[0]
}
