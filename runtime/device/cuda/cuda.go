//go:build cuda

// CUDA devices: a whole GPU (its primary context) or an SM partition of one (a green context), each with a compute and a copy stream.

package cuda

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"sync"
	"time"
	"unsafe"

	"gorgonia.org/cu"

	"baton/kernels"
	"baton/kernels/cuda"
)

func init() {
	cudaOpener = openCUDA
	gpuLister = listGPUs
}

// CUDADevice is a GPU, or an SM partition of one, behind the Device
// interface. Its kernels run on its compute stream; transfers to other
// devices run on its copy stream, fenced by events to the compute stream so
// that a Record after CopyTo covers the copy. Events are timing events on
// the compute stream, pooled. Every Device method may be called from any
// goroutine: it makes the device's context current for the call and restores
// the one that was. The kernels of Ops need the context current on the
// calling thread, which Bind provides for a whole stretch of work (an
// executor worker binds its device for the step).
type CUDADevice struct {
	name    string
	gpu     *gpuState
	part    int    // partition index; -1 for a whole GPU
	mode    string // "primary", "green", "stream" (fallback partition), "context" (a plain context)
	ctx     cuContext
	own     cuContext // a plain context this device made and destroys (mode "context")
	sms     int       // SMs the device's kernels may use
	compute cuStream
	copy    cuStream
	alloc   *cuda.Allocator
	ops     *deviceOps
	events  eventPool

	mu      sync.Mutex // guards routes, pending and stats (CopyTo and Sync may run on different goroutines)
	routes  map[*CUDADevice]*route
	pending []pendingCopy
	stats   map[string]*TransferStat

	closeOnce sync.Once
	closeErr  error
}

var _ Device = (*CUDADevice)(nil)

// DeviceError is a CUDA device's failure, naming the device.
type DeviceError struct {
	Device string
	Err    error
}

func (e *DeviceError) Error() string { return e.Device + ": " + e.Err.Error() }
func (e *DeviceError) Unwrap() error { return e.Err }

// fail panics with err naming the device: the Device methods that cannot
// return errors report a failed CUDA call so, and the executor's guard turns
// the panic into the step's error with the grid of actions.
func (d *CUDADevice) fail(err error) {
	panic(&DeviceError{Device: d.name, Err: err})
}

func (d *CUDADevice) must(err error) {
	if err != nil {
		d.fail(err)
	}
}

// enter locks the goroutine to its thread and makes d's context current,
// returning the context to restore.
func (d *CUDADevice) enter() cuContext {
	goruntime.LockOSThread()
	prev := ctxCurrent()
	if prev != d.ctx {
		if err := ctxSetCurrent(d.ctx); err != nil {
			goruntime.UnlockOSThread()
			d.fail(err)
		}
	}
	return prev
}

func (d *CUDADevice) leave(prev cuContext) {
	if prev != d.ctx {
		ctxSetCurrent(prev)
	}
	goruntime.UnlockOSThread()
}

// Bind locks the calling goroutine to its OS thread and makes the device's
// context current there until unbind, which restores the previous context.
func (d *CUDADevice) Bind() (unbind func()) {
	prev := d.enter()
	return func() { d.leave(prev) }
}

// Name is "cuda:0" for a whole GPU, "cuda:0/4#2" for partition 2 of 4.
func (d *CUDADevice) Name() string { return d.name }

// Ops are the CUDA kernels on the device's context and compute stream (a
// *deviceOps: kernels/cuda's *cuda.Ops, whose memory methods also work from
// goroutines that have not bound the device).
func (d *CUDADevice) Ops() kernels.Ops { return d.ops }

// Context is the device's CUDA context (primary, green, or its own).
func (d *CUDADevice) Context() cu.CUContext { return asCU(d.ctx) }

// asCU is c as gorgonia.org/cu's type (the same C handle).
func asCU(c cuContext) cu.CUContext { return *(*cu.CUContext)(unsafe.Pointer(&c)) }

// Stream is the device's compute stream.
func (d *CUDADevice) Stream() cu.Stream { return *(*cu.Stream)(unsafe.Pointer(&d.compute)) }

// GPU is the ordinal of the device's GPU.
func (d *CUDADevice) GPU() int { return d.gpu.index }

// SMs is the number of SMs the device's kernels may use: a partition's, or
// the whole GPU's (also for fallback partitions, which share them).
func (d *CUDADevice) SMs() int { return d.sms }

// Mode says how the device holds its GPU: "primary" (the whole GPU),
// "green" (a green-context partition of its SMs), "stream" (a partition that
// fell back to streams of the primary context, sharing all SMs) or
// "context" (a plain context of its own).
func (d *CUDADevice) Mode() string { return d.mode }

// Record marks the current point of the compute stream with a timing event.
func (d *CUDADevice) Record() Event {
	prev := d.enter()
	defer d.leave(prev)
	e, err := d.events.get()
	d.must(err)
	w := d.wrap(e)
	d.must(eventRecord(e, d.compute))
	return w
}

// Wait makes the compute stream wait for e, recorded on any CUDA device
// (another context or GPU included).
func (d *CUDADevice) Wait(e Event) {
	ev, ok := e.(*cudaEvent)
	if !ok {
		d.fail(fmt.Errorf("Wait on %T: a CUDA device can wait only on events of CUDA devices", e))
	}
	prev := d.enter()
	defer d.leave(prev)
	d.must(streamWait(d.compute, ev.ev))
	goruntime.KeepAlive(ev) // the wait is enqueued: the event may be reused after this
}

// Elapsed is the time from a to b, both recorded on this device. Both must
// have completed (the executor calls Sync first); if not, it waits for them.
func (d *CUDADevice) Elapsed(a, b Event) time.Duration {
	ea, oka := a.(*cudaEvent)
	eb, okb := b.(*cudaEvent)
	if !oka || !okb || ea.dev != d || eb.dev != d {
		d.fail(fmt.Errorf("Elapsed: both events must be recorded on %s", d.name))
	}
	prev := d.enter()
	defer d.leave(prev)
	ms, err := eventElapsed(ea.ev, eb.ev)
	if isNotReady(err) {
		d.must(eventSync(ea.ev))
		d.must(eventSync(eb.ev))
		ms, err = eventElapsed(ea.ev, eb.ev)
	}
	d.must(err)
	goruntime.KeepAlive(ea)
	goruntime.KeepAlive(eb)
	return time.Duration(float64(ms) * float64(time.Millisecond))
}

// Sync waits until the compute and copy streams are drained, then settles
// the timings of the copies made since the last Sync.
func (d *CUDADevice) Sync() {
	prev := d.enter()
	defer d.leave(prev)
	d.must(streamSync(d.compute))
	d.must(streamSync(d.copy))
	d.must(d.settleCopies())
}

// Memory is the bytes the device's allocator holds for live buffers now,
// and at most since the device was opened.
func (d *CUDADevice) Memory() (live, peak int64) {
	return d.alloc.Live(), d.alloc.Peak()
}

// Events reports how many events the device has made and how many are
// handed out now: a long run must not make more and more.
func (d *CUDADevice) Events() (made, out int) { return d.events.counts() }

// Close waits for the device's work, then releases its kernels, memory,
// streams, events and context (the last partition of a GPU destroys the
// green contexts; the primary context is released). Closing twice is a no-op.
func (d *CUDADevice) Close() error {
	d.closeOnce.Do(func() {
		d.closeErr = d.free()
		d.gpu.release(d)
	})
	return d.closeErr
}

// free releases what the device made on its context; the GPU is left to
// Close (or, on an error while opening, to the opener).
func (d *CUDADevice) free() error {
	if d.ctx == nil {
		return nil
	}
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	prev := ctxCurrent()
	if err := ctxSetCurrent(d.ctx); err != nil {
		return &DeviceError{Device: d.name, Err: err}
	}
	var errs []error
	for _, s := range []cuStream{d.compute, d.copy} {
		if s != nil {
			errs = append(errs, streamSync(s))
		}
	}
	if d.ops != nil {
		errs = append(errs, d.ops.Ops.Close())
	}
	if d.alloc != nil {
		errs = append(errs, d.alloc.Release())
	}
	d.mu.Lock()
	for _, r := range d.routes {
		if r.host != nil {
			errs = append(errs, hostFree(r.host))
			r.host = nil
		}
	}
	d.pending = nil
	d.mu.Unlock()
	for _, s := range []cuStream{d.compute, d.copy} {
		if s != nil {
			errs = append(errs, streamDestroy(s))
		}
	}
	d.events.destroy()
	if d.own != nil {
		errs = append(errs, ctxDestroy(d.own))
		if prev == d.own {
			prev = nil
		}
	}
	if prev != d.ctx {
		ctxSetCurrent(prev)
	}
	d.ctx = nil
	if err := errors.Join(errs...); err != nil {
		return &DeviceError{Device: d.name, Err: err}
	}
	return nil
}
