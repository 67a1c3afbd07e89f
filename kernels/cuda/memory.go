//go:build cuda

// Memory of the CUDA backend, kernels.Ops's memory methods: zeroed allocation, views, uploads through pinned staging, downloads, copies.

package cuda

/*
#include <cuda.h>

// baton_dtoh_sync copies device memory into dst (Go memory) in stream order and waits
// for it: dst is written only during this one call.
static CUresult baton_dtoh_sync(void* dst, CUdeviceptr src, size_t bytes, CUstream s) {
	CUresult r = cuMemcpyDtoHAsync(dst, src, bytes, s);
	if (r != CUDA_SUCCESS) return r;
	return cuStreamSynchronize(s);
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"

	"baton/kernels"
)

// Alloc returns n zeroed float32 (see TryAlloc); it panics with TryAlloc's error when the
// device is out of memory (kernels.Ops has no error result; the executor reports it).
func (o *Ops) Alloc(n int) kernels.Buffer {
	b, err := o.allocZeroed(Buf{N: n})
	if err != nil {
		panic(err)
	}
	return b
}

// AllocInt returns n zeroed int32; out of memory panics as Alloc does.
func (o *Ops) AllocInt(n int) kernels.Buffer {
	b, err := o.allocZeroed(Buf{N: n, Int: true})
	if err != nil {
		panic(err)
	}
	return b
}

// AllocAs returns n zeroed elements of what s holds in o's precision: float32, except
// under kernels.BF16, where Working is bf16 and Weights is bf16 with a float32 master
// (see Buf). Out of memory panics as Alloc does.
func (o *Ops) AllocAs(n int, s kernels.Storage) kernels.Buffer {
	if o.prec != kernels.BF16 || s == kernels.Exact {
		return o.Alloc(n)
	}
	b, err := o.allocZeroed(Buf{N: n, BF16: true})
	if err != nil {
		panic(err)
	}
	if s == kernels.Weights {
		m, err := o.allocZeroed(Buf{N: n})
		if err != nil {
			o.alloc.Free(b)
			panic(err)
		}
		b.Master = m.Ptr
	}
	return b
}

// TryAlloc returns n zeroed float32 from o's allocator, or its out-of-memory error
// (which names the device, the context, the size asked and the bytes live, and wraps
// cu.OutOfMemory).
//
// Zeroing is a cuMemsetD32Async on o's stream, so it is ordered before all work later
// enqueued on that stream but not before work on other streams: a buffer that another
// stream will write first (a receive buffer filled by a copy stream) needs that stream
// to wait on an event recorded on o's stream after the allocation (or o.Sync()). Called
// from another thread whose current context is not o's (a neighbour's transfer),
// TryAlloc waits for the zeroing before it returns, so the buffer is ready for any
// stream.
func (o *Ops) TryAlloc(n int) (Buf, error) { return o.allocZeroed(Buf{N: n}) }

// allocZeroed allocates like's N elements of like's type, zeroed (see TryAlloc).
func (o *Ops) allocZeroed(like Buf) (Buf, error) {
	var b Buf
	n := like.N
	err := withContext(o.ctx, func() error {
		var err error
		if b, err = o.alloc.get(like); err != nil || n == 0 {
			return err
		}
		if err := cu.MemsetD8Async(b.Ptr, 0, b.Bytes(), o.stream); err != nil {
			o.alloc.Free(b)
			return fmt.Errorf("cuda: Alloc(%d): cuMemsetD8Async: %w", n, err)
		}
		return nil
	})
	if err != nil {
		return Buf{}, err
	}
	if n > 0 && !o.isCurrent() {
		if err := withContext(o.ctx, o.Sync); err != nil {
			return Buf{}, fmt.Errorf("cuda: Alloc(%d): %w", n, err)
		}
	}
	return b, nil
}

// Slice returns b[off:off+n], sharing b's memory; it panics out of range.
func (o *Ops) Slice(b kernels.Buffer, off, n int) kernels.Buffer {
	s := asBuf("Slice", b)
	if off < 0 || n < 0 || off > s.N-n {
		panic(fmt.Sprintf("cuda: Slice: [%d:%d] out of range of a buffer of %d elements", off, off+n, s.N))
	}
	v := s
	v.Ptr, v.N = s.Ptr+cu.DevicePtr(s.ElemBytes()*int64(off)), n
	if s.Master != 0 {
		v.Master = s.Master + cu.DevicePtr(4*off)
	}
	return v
}

// Upload copies src into dst (float32). It returns once src has been copied into a
// pinned staging slot, not when the device has it: the host→device copy is enqueued on
// o's stream after the work before it and before the work after it.
//
// Why staging: an asynchronous copy from Go memory could still be reading it after the
// call returned (when the caller may reuse it, or the goroutine's stack has moved),
// while a synchronous cuMemcpyHtoD runs on the legacy stream, unordered with o's
// non-blocking stream, and would need the whole stream drained first, stalling the host
// on every micro-batch's tokens. So the data goes through stagingSlots pinned slots of
// 1 MiB in turn: a slot is reused once the device has read it (an event per slot), so
// an upload waits only for the one stagingSlots uploads earlier. Larger uploads
// (parameters, at setup) go through the slots in 1 MiB pieces.
func (o *Ops) Upload(dst kernels.Buffer, src []float32) {
	d := asBuf("Upload", dst)
	if d.Int {
		panic("cuda: Upload: dst is an int32 buffer (use UploadInt)")
	}
	mustSameLen("Upload", d.N, len(src))
	if len(src) == 0 {
		return
	}
	host := unsafe.Pointer(&src[0])
	switch {
	case !d.BF16:
		o.htod("Upload", d.Ptr, host, d.Bytes())
	case d.Master != 0: // a parameter: the master, then its bf16 copy from it
		o.htod("Upload", d.Master, host, 4*int64(d.N))
		o.convert("Upload", "f32_to_bf16_n", d.Ptr, d.Master, d.N)
	default:
		tmp := o.scratchFloats("Upload", d.N)
		o.htod("Upload", tmp.Ptr, host, 4*int64(d.N))
		o.convert("Upload", "f32_to_bf16_n", d.Ptr, tmp.Ptr, d.N)
	}
}

// UploadInt copies src into dst (int32), as Upload does.
func (o *Ops) UploadInt(dst kernels.Buffer, src []int32) {
	d := asBuf("UploadInt", dst)
	if !d.Int {
		panic("cuda: UploadInt: dst is a float32 buffer (use Upload)")
	}
	mustSameLen("UploadInt", d.N, len(src))
	if len(src) > 0 {
		o.htod("UploadInt", d.Ptr, unsafe.Pointer(&src[0]), d.Bytes())
	}
}

// htod copies bytes of host memory at src to dst through the staging slots.
func (o *Ops) htod(op string, dst cu.DevicePtr, src unsafe.Pointer, bytes int64) {
	defer o.enter()()
	o.stageMu.Lock()
	defer o.stageMu.Unlock()
	host := unsafe.Slice((*byte)(o.stageHost), stagingSlots*stagingSlotBytes)
	from := unsafe.Slice((*byte)(src), bytes)
	for off := int64(0); off < bytes; off += stagingSlotBytes {
		n := min(stagingSlotBytes, bytes-off)
		i := o.stageNext
		o.stageNext = (i + 1) % stagingSlots
		if err := o.stageEv[i].Synchronize(); err != nil {
			panic(fmt.Errorf("cuda: %s: wait for a staging slot: %w", op, err))
		}
		slot := host[i*stagingSlotBytes : i*stagingSlotBytes+int(n)]
		copy(slot, from[off:off+n])
		if err := cu.MemcpyHtoDAsync(dst+cu.DevicePtr(off), unsafe.Pointer(&slot[0]), n, o.stream); err != nil {
			panic(fmt.Errorf("cuda: %s: cuMemcpyHtoDAsync(%d bytes): %w", op, n, err))
		}
		if err := o.stageEv[i].Record(o.stream); err != nil {
			panic(fmt.Errorf("cuda: %s: cuEventRecord: %w", op, err))
		}
	}
}

// Download copies src (float32, or bf16 widened exactly, or a bf16 parameter's float32
// master) into dst once the work enqueued before it on o's stream
// has finished, and returns when dst holds the data.
func (o *Ops) Download(dst []float32, src kernels.Buffer) {
	defer o.enter()()
	s := asBuf("Download", src)
	if s.Int {
		panic("cuda: Download: src is an int32 buffer")
	}
	mustSameLen("Download", len(dst), s.N)
	if len(dst) == 0 {
		return
	}
	from := s.Ptr
	switch {
	case s.Master != 0: // a parameter: its master, every bit of it
		from = s.Master
	case s.BF16:
		tmp := o.scratchFloats("Download", s.N)
		o.convert("Download", "bf16_to_f32_n", tmp.Ptr, s.Ptr, s.N)
		from = tmp.Ptr
	}
	r := C.baton_dtoh_sync(unsafe.Pointer(&dst[0]), C.CUdeviceptr(from), C.size_t(4*int64(s.N)),
		C.CUstream(unsafe.Pointer(o.stream.C())))
	if err := cuCheck(r); err != nil {
		panic(fmt.Errorf("cuda: Download(%d): %w (the fault may be an earlier kernel's on this stream)", s.N, err))
	}
}

// Copy copies src into dst on o's stream: equal lengths of one element type (a bf16
// parameter's master copy too, so both must have one or neither).
func (o *Ops) Copy(dst, src kernels.Buffer) {
	defer o.enter()()
	d, s := asBuf("Copy", dst), asBuf("Copy", src)
	if d.Int != s.Int || d.BF16 != s.BF16 || (d.Master == 0) != (s.Master == 0) {
		panic(fmt.Sprintf("cuda: Copy: element types differ (dst %s, src %s)", d.kind(), s.kind()))
	}
	mustSameLen("Copy", d.N, s.N)
	if d.N == 0 {
		return
	}
	if err := cu.MemcpyDtoDAsync(d.Ptr, s.Ptr, d.Bytes(), o.stream); err != nil {
		panic(fmt.Errorf("cuda: Copy(%d): cuMemcpyDtoDAsync: %w", d.N, err))
	}
	if d.Master != 0 {
		if err := cu.MemcpyDtoDAsync(d.Master, s.Master, 4*int64(d.N), o.stream); err != nil {
			panic(fmt.Errorf("cuda: Copy(%d): the masters: cuMemcpyDtoDAsync: %w", d.N, err))
		}
	}
}

// Zero sets b to zeros on o's stream.
func (o *Ops) Zero(b kernels.Buffer) {
	defer o.enter()()
	z := asBuf("Zero", b)
	if z.N == 0 {
		return
	}
	if err := cu.MemsetD8Async(z.Ptr, 0, z.Bytes(), o.stream); err != nil {
		panic(fmt.Errorf("cuda: Zero(%d): cuMemsetD8Async: %w", z.N, err))
	}
	if z.Master != 0 {
		if err := cu.MemsetD8Async(z.Master, 0, 4*int64(z.N), o.stream); err != nil {
			panic(fmt.Errorf("cuda: Zero(%d): the master: cuMemsetD8Async: %w", z.N, err))
		}
	}
}

// mustSameLen panics when two lengths that must be equal differ: a caller's bug.
func mustSameLen(op string, dst, src int) {
	if dst != src {
		panic(fmt.Sprintf("cuda: %s: lengths differ (dst %d, src %d)", op, dst, src))
	}
}

// scratchFloats returns o's scratch, at least n floats, for an op whose
// kernels pass data to each other (the attention backward, the column sums):
// ops run one after another on o's stream, so one buffer serves them all. A
// larger request replaces it once the stream has finished with the old one.
func (o *Ops) scratchFloats(op string, n int) Buf {
	if o.scratch.N >= n {
		return o.scratch
	}
	if o.scratch.N > 0 {
		if err := o.Sync(); err != nil {
			panic(fmt.Errorf("cuda: %s: before growing the scratch: %w", op, err))
		}
		o.alloc.Free(o.scratch)
		o.scratch = Buf{}
	}
	b, err := o.alloc.TryAlloc(n)
	if err != nil {
		panic(fmt.Errorf("cuda: %s: scratch of %d floats: %w", op, n, err))
	}
	o.scratch = b
	return b
}
