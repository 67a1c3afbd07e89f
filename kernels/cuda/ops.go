//go:build cuda

// Ops: the backend value (context, stream, allocator, cuBLAS handle, loaded kernels),
// its construction and release, the GEMM precision, and the memory methods of
// kernels.Ops (Alloc, AllocInt, Slice, Upload, UploadInt, Download, Copy, Zero).

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

static CUresult baton_alloc_host(void** p, size_t bytes) { return cuMemAllocHost(p, bytes); }
*/
import "C"

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"strings"
	"sync"
	"unsafe"

	"gorgonia.org/cu"

	_ "baton/internal/cudainit" // before cu's init: a clear line when there is no GPU
	"baton/kernels"
)

// Upload staging: pinned host slots the data is copied into, so that Upload can return
// before the device has read it (see Upload).
const (
	stagingSlots     = 4
	stagingSlotBytes = 1 << 20
)

// Ops is the CUDA backend of kernels.Ops: every method enqueues its work on one stream
// of one context, in call order. It is not safe for concurrent use, except Alloc,
// AllocInt and TryAlloc.
//
// Threads and contexts: the caller must have made o's context current on its OS thread
// (runtime.LockOSThread, then cu.SetCurrentContext) before calling any method: the
// runtime's device worker does that once and then calls Ops without further ado.
// Alloc, AllocInt and TryAlloc are the exception: a neighbouring device's transfer may
// allocate a receive buffer here from its own thread, with its own context current. They
// push o's context for the call (cuCtxPushCurrent ... cuCtxPopCurrent) and so work from
// any thread, leaving its current context as it was.
type Ops struct {
	ctx    cu.CUContext
	stream cu.Stream
	alloc  *Allocator
	prec   kernels.Precision

	blas     *cublasHandle
	modules  []ptxModule
	kernels  map[string]*kernel // read-only after New
	launchMu sync.Mutex
	argbuf   unsafe.Pointer // C memory where launches stage kernel parameters

	stageMu   sync.Mutex
	stageHost unsafe.Pointer // pinned: stagingSlots × stagingSlotBytes
	stageEv   [stagingSlots]cu.Event
	stageNext int

	scratch Buf // for ops that keep data between their kernels, grown on demand (scratchFloats)

	attn [4]attnVariant // the attention kernels in prec, for heads of up to 16, 32, 64 and 128

	closed bool
	owned  *owned // what OpenPrimary made for this Ops
}

var _ kernels.Ops = (*Ops)(nil)

// owned is what OpenPrimary creates and Close releases.
type owned struct {
	dev cu.Device
}

// New returns the backend for ctx: work goes to stream (of ctx), memory comes from
// alloc (made for ctx), GEMMs compute in prec. It loads every embedded PTX module into
// ctx (the driver JIT-compiles them for the GPU: seconds on a first run, then served
// from the driver's cache) and creates a cuBLAS handle bound to stream.
//
// Before its own handle it makes sure the primary context of ctx's device has one
// (PrimeCublas), so that the first cuBLAS handle on a GPU is always on the whole GPU,
// even when ctx is an SM partition; the primary context stays retained for the life of
// the process.
//
// New pushes ctx for its own calls: it may be called from any thread. Close releases
// what New made; stream and alloc stay the caller's.
func New(ctx cu.CUContext, stream cu.Stream, alloc *Allocator, prec kernels.Precision) (*Ops, error) {
	if alloc == nil {
		return nil, errors.New("cuda: New: nil allocator")
	}
	if alloc.ctx != ctx {
		return nil, fmt.Errorf("cuda: New: the allocator is for context %v, not %v", alloc.ctx, ctx)
	}
	if prec != kernels.FP32 && prec != kernels.TF32 {
		return nil, fmt.Errorf("cuda: New: unknown precision %v", prec)
	}
	var dev cu.Device
	err := withContext(ctx, func() (err error) { dev, err = cu.CurrentDevice(); return err })
	if err != nil {
		return nil, fmt.Errorf("cuda: New: the device of context %v: %w", ctx, err)
	}
	if err := primeDevice(dev); err != nil {
		return nil, fmt.Errorf("cuda: New: %w", err)
	}
	mods, err := embeddedModules()
	if err != nil {
		return nil, fmt.Errorf("cuda: New: embedded PTX: %w", err)
	}
	o := &Ops{ctx: ctx, stream: stream, alloc: alloc, prec: prec, kernels: map[string]*kernel{}, argbuf: newArgBuf(),
		attn: [4]attnVariant{newAttnVariant(16, prec), newAttnVariant(32, prec), newAttnVariant(64, prec), newAttnVariant(128, prec)}}
	err = withContext(ctx, func() error {
		for _, m := range mods {
			if err := o.loadModule(m.name, m.ptx); err != nil {
				return err
			}
		}
		var err error
		if o.blas, err = newCublasHandle(stream, prec); err != nil {
			return err
		}
		if err := cuCheck(C.baton_alloc_host(&o.stageHost, stagingSlots*stagingSlotBytes)); err != nil {
			o.stageHost = nil
			return fmt.Errorf("cuda: cuMemAllocHost(%d): %w", stagingSlots*stagingSlotBytes, err)
		}
		for i := range o.stageEv {
			if o.stageEv[i], err = cu.MakeEvent(cu.DisableTiming); err != nil {
				return fmt.Errorf("cuda: cuEventCreate: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		o.Close()
		return nil, err
	}
	return o, nil
}

// OpenPrimary makes an Ops on the whole of GPU ordinal, for tests and tools: it retains
// the device's primary context and makes it current on the calling thread (so lock the
// goroutine to its thread first: runtime.LockOSThread), creates a non-blocking stream
// and an allocator. Close releases all of them too.
func OpenPrimary(ordinal int, prec kernels.Precision) (*Ops, error) {
	dev, err := cu.GetDevice(ordinal)
	if err != nil {
		return nil, fmt.Errorf("cuda: device %d: %w", ordinal, err)
	}
	ctx, err := dev.RetainPrimaryCtx()
	if err != nil {
		return nil, fmt.Errorf("cuda: device %d: retain primary context: %w", ordinal, err)
	}
	fail := func(err error) (*Ops, error) {
		dev.ReleasePrimaryCtx()
		return nil, err
	}
	if err := cu.SetCurrentContext(ctx); err != nil {
		return fail(fmt.Errorf("cuda: device %d: make its context current: %w", ordinal, err))
	}
	stream, err := cu.MakeStream(cu.NonBlocking)
	if err != nil {
		return fail(fmt.Errorf("cuda: device %d: create stream: %w", ordinal, err))
	}
	o, err := New(ctx, stream, NewAllocator(ctx, fmt.Sprintf("cuda:%d", ordinal)), prec)
	if err != nil {
		stream.Destroy()
		return fail(err)
	}
	o.owned = &owned{dev: dev}
	return o, nil
}

// Close releases the cuBLAS handle, the modules, the staging buffer; and, for an Ops
// from OpenPrimary, the stream, the allocator's memory and the primary context. It
// waits for o's stream first. Calling it twice is harmless.
func (o *Ops) Close() error {
	if o.closed {
		return nil
	}
	o.closed = true
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	keep(withContext(o.ctx, func() error {
		if o.stream != (cu.Stream{}) {
			keep(o.stream.Synchronize())
		}
		o.alloc.Free(o.scratch) // a zero Buf when never grown
		o.scratch = Buf{}
		keep(o.blas.destroy())
		o.blas = nil
		keep(o.unloadModules())
		for i := range o.stageEv {
			if o.stageEv[i] != (cu.Event{}) {
				keep(cu.DestroyEvent(&o.stageEv[i]))
			}
		}
		if o.stageHost != nil {
			keep(cu.MemFreeHost(o.stageHost))
			o.stageHost = nil
		}
		if o.owned != nil {
			keep(o.stream.Destroy())
		}
		return nil
	}))
	if o.argbuf != nil {
		freeArgBuf(o.argbuf)
		o.argbuf = nil
	}
	if o.owned != nil {
		keep(o.alloc.Release())
		keep(o.owned.dev.ReleasePrimaryCtx())
	}
	if len(errs) > 0 {
		return fmt.Errorf("cuda: Close: %w", errors.Join(errs...))
	}
	return nil
}

// Name identifies the backend.
func (o *Ops) Name() string { return "cuda" }

// Context is the CUDA context o works in.
func (o *Ops) Context() cu.CUContext { return o.ctx }

// Stream is the stream o enqueues its work on.
func (o *Ops) Stream() cu.Stream { return o.stream }

// Allocator is where o's buffers come from.
func (o *Ops) Allocator() *Allocator { return o.alloc }

// Precision is the arithmetic of o's GEMMs.
func (o *Ops) Precision() kernels.Precision { return o.prec }

// Sync waits until all work enqueued on o's stream has finished, and reports an error
// of any of it (a kernel fault surfaces here, or at the next Download).
func (o *Ops) Sync() error {
	defer o.enter()()
	if err := o.stream.Synchronize(); err != nil {
		return fmt.Errorf("cuda: cuStreamSynchronize: %w", err)
	}
	return nil
}

// Alloc returns n zeroed float32 (see TryAlloc); it panics with TryAlloc's error when the
// device is out of memory (kernels.Ops has no error result; the executor reports it).
func (o *Ops) Alloc(n int) kernels.Buffer {
	b, err := o.allocZeroed(n, false)
	if err != nil {
		panic(err)
	}
	return b
}

// AllocInt returns n zeroed int32; out of memory panics as Alloc does.
func (o *Ops) AllocInt(n int) kernels.Buffer {
	b, err := o.allocZeroed(n, true)
	if err != nil {
		panic(err)
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
func (o *Ops) TryAlloc(n int) (Buf, error) { return o.allocZeroed(n, false) }

func (o *Ops) allocZeroed(n int, isInt bool) (Buf, error) {
	var b Buf
	err := withContext(o.ctx, func() error {
		var err error
		if b, err = o.alloc.get(n, isInt); err != nil || n == 0 {
			return err
		}
		if err := cu.MemsetD32Async(b.Ptr, 0, int64(n), o.stream); err != nil {
			o.alloc.Free(b)
			return fmt.Errorf("cuda: Alloc(%d): cuMemsetD32Async: %w", n, err)
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

// enter makes o's context current on a locked OS thread for the length of one call, so
// that Ops works from any goroutine (a test runs each subtest on a goroutine of its own,
// and an unlocked goroutine may change threads between two calls). The runtime's
// workers already hold the context current on their locked thread; for them this costs
// one cuCtxGetCurrent.
func (o *Ops) enter() (exit func()) {
	goruntime.LockOSThread()
	if o.isCurrent() {
		return goruntime.UnlockOSThread
	}
	if err := cu.PushCurrentCtx(o.ctx); err != nil {
		goruntime.UnlockOSThread()
		panic(fmt.Errorf("cuda: cuCtxPushCurrent: %w", err))
	}
	return func() {
		cu.PopCurrentCtx()
		goruntime.UnlockOSThread()
	}
}

// isCurrent reports whether o's context is the calling thread's current context (the
// thread is the device worker's) rather than a neighbour's.
func (o *Ops) isCurrent() bool {
	cur, err := cu.CurrentContext()
	return err == nil && cur == o.ctx
}

// Slice returns b[off:off+n], sharing b's memory; it panics out of range.
func (o *Ops) Slice(b kernels.Buffer, off, n int) kernels.Buffer {
	s := asBuf("Slice", b)
	if off < 0 || n < 0 || off > s.N-n {
		panic(fmt.Sprintf("cuda: Slice: [%d:%d] out of range of a buffer of %d elements", off, off+n, s.N))
	}
	return Buf{Ptr: s.Ptr + cu.DevicePtr(4*off), N: n, Int: s.Int}
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
	if len(src) > 0 {
		o.htod("Upload", d.Ptr, unsafe.Pointer(&src[0]), d.bytes())
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
		o.htod("UploadInt", d.Ptr, unsafe.Pointer(&src[0]), d.bytes())
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

// Download copies src (float32) into dst once the work enqueued before it on o's stream
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
	r := C.baton_dtoh_sync(unsafe.Pointer(&dst[0]), C.CUdeviceptr(s.Ptr), C.size_t(s.bytes()),
		C.CUstream(unsafe.Pointer(o.stream.C())))
	if err := cuCheck(r); err != nil {
		panic(fmt.Errorf("cuda: Download(%d): %w (the fault may be an earlier kernel's on this stream)", s.N, err))
	}
}

// Copy copies src into dst on o's stream; both float32 or both int32, equal lengths.
func (o *Ops) Copy(dst, src kernels.Buffer) {
	defer o.enter()()
	d, s := asBuf("Copy", dst), asBuf("Copy", src)
	if d.Int != s.Int {
		panic(fmt.Sprintf("cuda: Copy: element types differ (dst int32 %v, src int32 %v)", d.Int, s.Int))
	}
	mustSameLen("Copy", d.N, s.N)
	if d.N == 0 {
		return
	}
	if err := cu.MemcpyDtoDAsync(d.Ptr, s.Ptr, d.bytes(), o.stream); err != nil {
		panic(fmt.Errorf("cuda: Copy(%d): cuMemcpyDtoDAsync: %w", d.N, err))
	}
}

// Zero sets b to zeros on o's stream.
func (o *Ops) Zero(b kernels.Buffer) {
	defer o.enter()()
	z := asBuf("Zero", b)
	if z.N == 0 {
		return
	}
	if err := cu.MemsetD32Async(z.Ptr, 0, int64(z.N), o.stream); err != nil {
		panic(fmt.Errorf("cuda: Zero(%d): cuMemsetD32Async: %w", z.N, err))
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
