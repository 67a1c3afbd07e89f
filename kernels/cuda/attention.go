//go:build cuda

// Attention: causal multi-head attention, a fused online-softmax forward and a
// backward that recomputes the probabilities from lse (src/attention.cu).

package cuda

import (
	"fmt"
	"math"
	"unsafe"

	"baton/kernels"
)

// MaxHeadSize is the largest head size hs = C/NH the attention kernels take:
// heads are padded to 16, 32, 64 or 128 columns of their shared-memory tiles. Configs
// with larger heads are refused before they reach a kernel.
const MaxHeadSize = 128

// Tiles of the attention kernels (src/attention.cu): a block of attnThreads
// threads (4 warps of 16 rows) takes attnTile rows and walks the other side
// attnTile at a time.
const (
	attnTile    = 64
	attnThreads = 128
	attnPad     = 4 // floats of padding per row of a shared tile
)

// attnVariant is one padded head size's kernels in one precision, for float32
// operands and for bf16 ones, and the dynamic shared memory (bytes) each needs,
// as the kernels lay it out (the same for both: tiles are staged as floats).
type attnVariant struct {
	hs                        int
	forward, dq, dkv          string // float32 qkv, out, dout, dqkv
	forwardBF, dqBF, dkvBF    string // bf16 qkv, out, dout, dqkv (lse and D float32)
	forwardMem, dqMem, dkvMem int
}

// newAttnVariant: FP32's kernels split each operand for three TF32 products
// (3xTF32), TF32's take one. BF16's float32 operands (none in a BF16 model, whose
// activations are kernels.Working) take FP32's kernels; bf16 operands take the
// *_bf16 kernels (bf16 mma.m16n8k16, float32 accumulators) in every precision.
func newAttnVariant(hs int, prec kernels.Precision) attnVariant {
	if prec == kernels.BF16 {
		prec = kernels.FP32
	}
	// A (64, hs+4) tile per staged side, and each warp's (16, 68) scratch of
	// scores (two in the dk/dv kernel, with lse and D of 64 queries).
	tile, scratch := attnTile*(hs+attnPad), 4*16*(attnTile+attnPad)
	suffix, bf := fmt.Sprintf("hs%d_%v", hs, prec), fmt.Sprintf("hs%d_bf16", hs)
	return attnVariant{
		hs:         hs,
		forward:    "attention_forward_" + suffix,
		dq:         "attention_backward_dq_" + suffix,
		dkv:        "attention_backward_dkdv_" + suffix,
		forwardBF:  "attention_forward_" + bf,
		dqBF:       "attention_backward_dq_" + bf,
		dkvBF:      "attention_backward_dkdv_" + bf,
		forwardMem: 4 * (3*tile + scratch),
		dqMem:      4 * (4*tile + scratch),
		dkvMem:     4 * (4*tile + 2*attnTile + 2*scratch),
	}
}

// attnPick returns o's variant for the head size C/NH, and the head size.
func (o *Ops) attnPick(cl call, C, NH int) (attnVariant, int) {
	if NH <= 0 || C%NH != 0 {
		cl.fail("C must be a multiple of NH >= 1")
	}
	hs := C / NH
	for _, v := range o.attn {
		if hs <= v.hs {
			return v, hs
		}
	}
	cl.fail("head size C/NH = %d exceeds the CUDA kernels' limit %d", hs, MaxHeadSize)
	return attnVariant{}, 0
}

// AttentionForward: out (B,T,C) and lse (B,NH,T) from qkv (B,T,3C), causal,
// scores scaled by 1/sqrt(hs). One fused kernel: per (b, h) and block of 64
// queries, key/value tiles of 64 keys are staged in shared memory and folded
// into each query's running max, denominator and output by online softmax;
// no (T,T) matrix and no scratch memory. Products on tensor cores: 3xTF32 in
// FP32 (about FP32's accuracy), TF32 in TF32. bf16 out and qkv (kernels.Working
// under BF16; lse stays float32) take the bf16 kernels: bf16 products
// (mma.m16n8k16) summed in float32, P rounded to bf16 before P·V, out rounded
// to bf16 once.
func (o *Ops) AttentionForward(out, lse, qkv kernels.Buffer, B, T, C, NH int) {
	const op = "AttentionForward"
	cl := call{op, "B T C NH", [4]int{B, T, C, NH}}
	empty := cl.checkDims(B, T, C, NH, B*NH, 3*C)
	kv, hs := o.attnPick(cl, C, NH)
	cl.checkLen("out", out, B*T*C, false)
	cl.checkLen("lse", lse, B*NH*T, false)
	cl.checkLen("qkv", qkv, B*T*3*C, false)
	cl.exact("lse", lse)
	forward := kv.forward
	if cl.storage("out qkv", out, qkv) {
		forward = kv.forwardBF
	}
	if empty {
		return
	}
	pOut, pLse, pQkv := dptr(op, out), dptr(op, lse), dptr(op, qkv)
	t, c, nh, scale := i32(T), i32(C), i32(NH), float32(1/math.Sqrt(float64(hs)))
	o.launch2(op, forward, B*NH, (T+attnTile-1)/attnTile, attnThreads, 1, kv.forwardMem,
		unsafe.Pointer(&pOut), unsafe.Pointer(&pLse), unsafe.Pointer(&pQkv),
		unsafe.Pointer(&t), unsafe.Pointer(&c), unsafe.Pointer(&nh), unsafe.Pointer(&scale))
}

// AttentionBackward: dqkv (B,T,3C) (overwritten) from dout (B,T,C), given the
// forward's qkv, out and lse.
//
// Two fused kernels, each recomputing p = exp(s - lse): one per block of 64
// queries writes dq (keys in order) and D = dout·out per query, one per block
// of 64 keys writes dk and dv (queries in order), so every element is summed
// by one warp in a fixed order: no atomics, deterministic. Memory: B·NH·T
// floats of o's scratch for D. Products on tensor cores: 3xTF32 in FP32, TF32
// in TF32; with bf16 dqkv, dout, qkv and out (lse float32), bf16 products
// summed in float32, P and dS rounded to bf16 before they are multiplied again,
// D and the softmax recompute in float32, dqkv rounded to bf16 once.
func (o *Ops) AttentionBackward(dqkv, dout, qkv, out, lse kernels.Buffer, B, T, C, NH int) {
	const op = "AttentionBackward"
	cl := call{op, "B T C NH", [4]int{B, T, C, NH}}
	empty := cl.checkDims(B, T, C, NH, B*NH, 3*C)
	kv, hs := o.attnPick(cl, C, NH)
	cl.checkLen("dqkv", dqkv, B*T*3*C, false)
	cl.checkLen("dout", dout, B*T*C, false)
	cl.checkLen("qkv", qkv, B*T*3*C, false)
	cl.checkLen("out", out, B*T*C, false)
	cl.checkLen("lse", lse, B*NH*T, false)
	cl.exact("lse", lse)
	dq, dkv := kv.dq, kv.dkv
	if cl.storage("dqkv dout qkv out", dqkv, dout, qkv, out) {
		dq, dkv = kv.dqBF, kv.dkvBF
	}
	if empty {
		return
	}
	scale := float32(1 / math.Sqrt(float64(hs)))
	pDqkv, pDout, pQkv, pOut, pLse := dptr(op, dqkv), dptr(op, dout), dptr(op, qkv), dptr(op, out), dptr(op, lse)
	pD := o.scratchFloats(op, B*NH*T).Ptr
	t, c, nh := i32(T), i32(C), i32(NH)
	gy := (T + attnTile - 1) / attnTile
	o.launch2(op, dq, B*NH, gy, attnThreads, 1, kv.dqMem,
		unsafe.Pointer(&pDqkv), unsafe.Pointer(&pD), unsafe.Pointer(&pDout), unsafe.Pointer(&pQkv), unsafe.Pointer(&pOut),
		unsafe.Pointer(&pLse), unsafe.Pointer(&t), unsafe.Pointer(&c), unsafe.Pointer(&nh), unsafe.Pointer(&scale))
	o.launch2(op, dkv, B*NH, gy, attnThreads, 1, kv.dkvMem,
		unsafe.Pointer(&pDqkv), unsafe.Pointer(&pD), unsafe.Pointer(&pDout), unsafe.Pointer(&pQkv),
		unsafe.Pointer(&pLse), unsafe.Pointer(&t), unsafe.Pointer(&c), unsafe.Pointer(&nh), unsafe.Pointer(&scale))
}
