//go:build cuda

// Encoder: token + position embedding forward, and its scatter-add backward
// (deterministic: no atomics; see encoder_backward_wte in src/encoder.cu), in
// float32 or bf16 storage.

package cuda

import (
	"unsafe"

	"baton/kernels"
)

// wteBlock is the block size of encoder_backward_wte (channels per block and
// positions per scanned tile); wteBlocks is about how many blocks it aims for:
// the vocabulary rows are split into G = wteBlocks/channel-chunks buckets
// (v % G), each block scanning all positions for the rows of its bucket.
const (
	wteBlock  = 256
	wteBlocks = 1024
)

// EncoderForward: out (B,T,C) = wte[inp] (V,C) + wpe[t] (T,C); inp (B,T) int.
// V is wte's length / C. A token id outside [0, V) cannot panic on the device:
// its row of out is NaN.
func (o *Ops) EncoderForward(out, inp, wte, wpe kernels.Buffer, B, T, C int) {
	const op = "EncoderForward"
	cl := call{op, "B T C", [4]int{B, T, C}}
	empty := cl.checkDims(B, T, C, B*T)
	cl.checkLen("out", out, B*T*C, false)
	cl.checkLen("inp", inp, B*T, true)
	cl.checkLen("wpe", wpe, T*C, false)
	V := vocabRows(cl, "wte", wte, C)
	kernel, grid := "encoder_forward", eltGrid(B*T*C, eltBlock)
	if cl.storage("out wte wpe", out, wte, wpe) {
		kernel, grid = "encoder_forward_bf16", eltGridBF16(B*T*C)
	}
	if empty {
		return
	}
	pOut, pInp, pWte, pWpe := dptr(op, out), dptr(op, inp), dptr(op, wte), dptr(op, wpe)
	bt, t, c, v := i32(B*T), i32(T), i32(C), i32(V)
	o.launch(op, kernel, grid, eltBlock, 0,
		unsafe.Pointer(&pOut), unsafe.Pointer(&pInp), unsafe.Pointer(&pWte), unsafe.Pointer(&pWpe),
		unsafe.Pointer(&bt), unsafe.Pointer(&t), unsafe.Pointer(&c), unsafe.Pointer(&v))
}

// EncoderBackward: dwte, dwpe += scatter of dout (B,T,C) by inp (B,T).
// Every element of dwte and dwpe is summed by one thread, its terms in
// position order (b, t): the CPU's order, so the result is bit-identical to
// the CPU backend and the same on every run. Ids outside [0, V) are skipped.
// In bf16 the sums are float32 in registers, rounded once per run of one
// row's positions in a block's bucket (once in all where a bucket holds one
// row, as when V <= 1024 / ceil(C/256)).
func (o *Ops) EncoderBackward(dwte, dwpe, dout, inp kernels.Buffer, B, T, C int) {
	const op = "EncoderBackward"
	cl := call{op, "B T C", [4]int{B, T, C}}
	empty := cl.checkDims(B, T, C, B*T)
	cl.checkLen("dwpe", dwpe, T*C, false)
	cl.checkLen("dout", dout, B*T*C, false)
	cl.checkLen("inp", inp, B*T, true)
	V := vocabRows(cl, "dwte", dwte, C)
	wpeKernel, wteKernel, wpeGrid := "encoder_backward_wpe", "encoder_backward_wte", eltGrid(T*C, eltBlock)
	if cl.storage("dwte dwpe dout", dwte, dwpe, dout) {
		wpeKernel, wteKernel, wpeGrid = "encoder_backward_wpe_bf16", "encoder_backward_wte_bf16", eltGridBF16(T*C)
	}
	if empty {
		return
	}
	pDwte, pDwpe, pDout, pInp := dptr(op, dwte), dptr(op, dwpe), dptr(op, dout), dptr(op, inp)
	b, bt, t, c, v := i32(B), i32(B*T), i32(T), i32(C), i32(V)

	o.launch(op, wpeKernel, wpeGrid, eltBlock, 0,
		unsafe.Pointer(&pDwpe), unsafe.Pointer(&pDout), unsafe.Pointer(&b), unsafe.Pointer(&t), unsafe.Pointer(&c))

	chunks := (C + wteBlock - 1) / wteBlock
	G := min(V, max(1, wteBlocks/chunks))
	g := i32(G)
	o.launch2(op, wteKernel, chunks, G, wteBlock, 1, 0,
		unsafe.Pointer(&pDwte), unsafe.Pointer(&pDout), unsafe.Pointer(&pInp),
		unsafe.Pointer(&bt), unsafe.Pointer(&c), unsafe.Pointer(&v), unsafe.Pointer(&g))
}

// vocabRows returns V, the rows of an embedding table (V, C): its length / C,
// as the CPU backend takes it; it must be at least 1.
func vocabRows(cl call, name string, b kernels.Buffer, C int) int {
	cl.checkLen(name, b, 0, false)
	if C == 0 {
		return 0
	}
	V := b.Len() / C
	if V < 1 {
		cl.fail("%s has %d elements, needs V*C for some V >= 1", name, b.Len())
	}
	cl.checkDims(V)
	return V
}
