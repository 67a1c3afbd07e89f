//go:build cuda

// Attention: causal multi-head attention, a fused online-softmax forward and a
// backward that recomputes the probabilities from lse (src/attention.cu).

package cuda

import (
	"math"
	"unsafe"

	"baton/kernels"
)

// MaxHeadSize is the largest head size hs = C/NH the attention kernels take:
// each row's hs values live in the registers of a group of at most 4 threads,
// 32 each. Configs with larger heads are refused before they reach a kernel.
const MaxHeadSize = 128

// attnRows is the rows (queries in the forward and dq kernels, keys in the dk,
// dv kernel) of one attention block, which has attnRows*TPR threads.
const attnRows = 64

// attnVariant is one head-size bound's kernels: threads per row (TPR, the
// bound being 32*TPR) and the names of its forward, dq and dk/dv kernels.
type attnVariant struct {
	tpr              int
	forward, dq, dkv string
}

var attnVariants = [...]attnVariant{
	{1, "attention_forward_hs32", "attention_backward_dq_hs32", "attention_backward_dkdv_hs32"},
	{2, "attention_forward_hs64", "attention_backward_dq_hs64", "attention_backward_dkdv_hs64"},
	{4, "attention_forward_hs128", "attention_backward_dq_hs128", "attention_backward_dkdv_hs128"},
}

// attnPick returns the variant for the head size C/NH, and the head size.
func attnPick(cl call, C, NH int) (attnVariant, int) {
	if NH <= 0 || C%NH != 0 {
		cl.fail("C must be a multiple of NH >= 1")
	}
	hs := C / NH
	for _, v := range attnVariants {
		if hs <= 32*v.tpr {
			return v, hs
		}
	}
	cl.fail("head size C/NH = %d exceeds the CUDA kernels' limit %d", hs, MaxHeadSize)
	return attnVariant{}, 0
}

// AttentionForward: out (B,T,C) and lse (B,NH,T) from qkv (B,T,3C), causal,
// scores scaled by 1/sqrt(hs). One fused kernel: per (b, h) and block of 64
// queries, key/value tiles of 32 keys are staged in shared memory and folded
// into each query's running max, denominator and output by online softmax;
// no (T,T) matrix and no scratch memory.
func (o *Ops) AttentionForward(out, lse, qkv kernels.Buffer, B, T, C, NH int) {
	const op = "AttentionForward"
	cl := call{op, "B T C NH", [4]int{B, T, C, NH}}
	empty := cl.checkDims(B, T, C, NH, B*NH, 3*C)
	kv, hs := attnPick(cl, C, NH)
	cl.checkLen("out", out, B*T*C, false)
	cl.checkLen("lse", lse, B*NH*T, false)
	cl.checkLen("qkv", qkv, B*T*3*C, false)
	if empty {
		return
	}
	pOut, pLse, pQkv := dptr(op, out), dptr(op, lse), dptr(op, qkv)
	t, c, nh, scale := i32(T), i32(C), i32(NH), float32(1/math.Sqrt(float64(hs)))
	o.launch2(op, kv.forward, B*NH, (T+attnRows-1)/attnRows, attnRows*kv.tpr, 1, 0,
		unsafe.Pointer(&pOut), unsafe.Pointer(&pLse), unsafe.Pointer(&pQkv),
		unsafe.Pointer(&t), unsafe.Pointer(&c), unsafe.Pointer(&nh), unsafe.Pointer(&scale))
}

// AttentionBackward: dqkv (B,T,3C) (overwritten) from dout (B,T,C), given the
// forward's qkv, out and lse. Two kernels, each recomputing p = exp(s - lse)
// and D = dout·out: one per block of 64 queries writes dq (keys in order),
// one per block of 64 keys writes dk and dv (queries in order), so every
// element is summed by one thread in a fixed order: no atomics, deterministic.
// Memory: nothing beyond dqkv (shared-memory tiles only).
func (o *Ops) AttentionBackward(dqkv, dout, qkv, out, lse kernels.Buffer, B, T, C, NH int) {
	const op = "AttentionBackward"
	cl := call{op, "B T C NH", [4]int{B, T, C, NH}}
	empty := cl.checkDims(B, T, C, NH, B*NH, 3*C)
	kv, hs := attnPick(cl, C, NH)
	cl.checkLen("dqkv", dqkv, B*T*3*C, false)
	cl.checkLen("dout", dout, B*T*C, false)
	cl.checkLen("qkv", qkv, B*T*3*C, false)
	cl.checkLen("out", out, B*T*C, false)
	cl.checkLen("lse", lse, B*NH*T, false)
	if empty {
		return
	}
	pDqkv, pDout, pQkv, pOut, pLse := dptr(op, dqkv), dptr(op, dout), dptr(op, qkv), dptr(op, out), dptr(op, lse)
	t, c, nh, scale := i32(T), i32(C), i32(NH), float32(1/math.Sqrt(float64(hs)))
	args := []unsafe.Pointer{
		unsafe.Pointer(&pDqkv), unsafe.Pointer(&pDout), unsafe.Pointer(&pQkv), unsafe.Pointer(&pOut),
		unsafe.Pointer(&pLse), unsafe.Pointer(&t), unsafe.Pointer(&c), unsafe.Pointer(&nh), unsafe.Pointer(&scale),
	}
	gy := (T + attnRows - 1) / attnRows
	o.launch2(op, kv.dq, B*NH, gy, attnRows*kv.tpr, 1, 0, args...)
	o.launch2(op, kv.dkv, B*NH, gy, attnRows*kv.tpr, 1, 0, args...)
}
