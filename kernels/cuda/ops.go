//go:build cuda

// Ops: the backend value (context, stream, allocator, cuBLAS handle, loaded kernels),
// its construction and release, and the GEMM precision.

package cuda

/*
#include <cuda.h>

static CUresult baton_alloc_host(void** p, size_t bytes) { return cuMemAllocHost(p, bytes); }
*/
import "C"

import (
	"errors"
	"fmt"
	goruntime "runtime"
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

	stochastic bool   // bf16 parameters' copies rounded stochastically by AdamW (SetBF16Rounding)
	roundSeed  uint64 // the seed of that rounding

	closed bool
}

var _ kernels.Ops = (*Ops)(nil)

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
	if prec != kernels.FP32 && prec != kernels.TF32 && prec != kernels.BF16 {
		return nil, fmt.Errorf("cuda: New: unknown precision %v", prec)
	}
	var dev cu.Device
	err := withContext(ctx, func() (err error) { dev, err = cu.CurrentDevice(); return err })
	if err != nil {
		return nil, fmt.Errorf("cuda: New: the device of context %v: %w", ctx, err)
	}
	if err := primeDevice(dev); err != nil {
		return nil, wrapUnlessLibrary(err, "cuda: New: %w", err)
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

// Close releases the cuBLAS handle, the modules and the staging buffer (the stream,
// the allocator and the context are the caller's). It waits for o's stream first.
// Calling it twice is harmless.
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
		return nil
	}))
	if o.argbuf != nil {
		freeArgBuf(o.argbuf)
		o.argbuf = nil
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
