//go:build cuda

// Package cuda is the CUDA driver of package device: a whole GPU (its
// primary context) or an SM partition of one (a green context, or a stream
// of the primary context where green contexts are unavailable), each with a
// compute and a copy stream, pooled timing events, and copies between
// devices by the best path the pair has. It registers itself with
// device.Register for the kind "cuda"; a binary gets CUDA devices by
// importing it (blank) in its cuda build. Every driver call goes through
// gorgonia.org/cu, as kernels/cuda's do, except the few cu lacks (a small
// cgo shim: green contexts, pinned portable host memory, error names).
//
// Main types: Device (a GPU or partition behind device.Device), DeviceError
// (a device's failure, naming it), DriverError (a failed driver call, which
// errors.Is matches against cu's results), and the Path* names of the copy
// paths in device.TransferStat.
package cuda

import (
	"errors"
	goruntime "runtime"
	"sync"
	"sync/atomic"

	"gorgonia.org/cu"

	"baton/kernels"
	kcuda "baton/kernels/cuda"
	"baton/runtime/device"
)

// Device is a GPU, or an SM partition of one, behind the device.Device
// interface. Its kernels run on its compute stream; transfers to other
// devices run on its copy stream, fenced by events to the compute stream so
// that a Record after CopyTo covers the copy. Events are timing events on
// the compute stream, pooled. Every method may be called from any
// goroutine: it makes the device's context current for the call and restores
// the one that was. The kernels of Ops need the context current on the
// calling thread, which Bind provides for a whole stretch of work (an
// executor worker binds its device for the step).
type Device struct {
	name    string
	gpu     *gpuState
	part    int    // partition index; -1 for a whole GPU
	mode    string // "primary", "green", "stream" (fallback partition), "context" (a plain context)
	ctx     cu.CUContext
	own     cu.CUContext // a plain context this device made and destroys (mode "context")
	sms     int          // SMs the device's kernels may use
	compute cu.Stream
	copy    cu.Stream
	alloc   *kcuda.Allocator
	ops     *deviceOps
	events  eventPool
	capture atomic.Pointer[captureState] // a CaptureGraph in progress (graph.go)
	graphs  graphCounts

	mu      sync.Mutex // guards routes, pending and stats (CopyTo and Sync may run on different goroutines)
	routes  map[*Device]*route
	pending []pendingCopy
	stats   map[string]*device.TransferStat

	closeOnce sync.Once
	closeErr  error
}

var (
	_ device.Device           = (*Device)(nil)
	_ device.TransferReporter = (*Device)(nil)
	_ device.EventReleaser    = (*Device)(nil)
)

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
func (d *Device) fail(err error) {
	panic(&DeviceError{Device: d.name, Err: err})
}

func (d *Device) must(err error) {
	if err != nil {
		d.fail(err)
	}
}

// enter locks the goroutine to its thread and makes d's context current,
// returning the context to restore.
func (d *Device) enter() cu.CUContext {
	goruntime.LockOSThread()
	prev := ctxCurrent()
	if prev != d.ctx {
		if err := setCurrent(d.ctx); err != nil {
			goruntime.UnlockOSThread()
			d.fail(err)
		}
	}
	return prev
}

func (d *Device) leave(prev cu.CUContext) {
	if prev != d.ctx {
		cu.SetCurrentContext(prev)
	}
	goruntime.UnlockOSThread()
}

// Bind locks the calling goroutine to its OS thread and makes the device's
// context current there until unbind, which restores the previous context.
func (d *Device) Bind() (unbind func()) {
	prev := d.enter()
	return func() { d.leave(prev) }
}

// Name is "cuda:0" for a whole GPU, "cuda:0/4#2" for partition 2 of 4.
func (d *Device) Name() string { return d.name }

// Ops are the CUDA kernels on the device's context and compute stream (a
// *deviceOps: kernels/cuda's Ops, whose memory methods also work from
// goroutines that have not bound the device).
func (d *Device) Ops() kernels.Ops { return d.ops }

// Context is the device's CUDA context (primary, green, or its own).
func (d *Device) Context() cu.CUContext { return d.ctx }

// Stream is the device's compute stream.
func (d *Device) Stream() cu.Stream { return d.compute }

// GPU is the ordinal of the device's GPU.
func (d *Device) GPU() int { return d.gpu.index }

// SMs is the number of SMs the device's kernels may use: a partition's, or
// the whole GPU's (also for fallback partitions, which share them).
func (d *Device) SMs() int { return d.sms }

// Mode says how the device holds its GPU: "primary" (the whole GPU),
// "green" (a green-context partition of its SMs), "stream" (a partition that
// fell back to streams of the primary context, sharing all SMs) or
// "context" (a plain context of its own).
func (d *Device) Mode() string { return d.mode }

// Memory is the bytes the device's allocator holds for live buffers now,
// and at most since the device was opened.
func (d *Device) Memory() (live, peak int64) {
	return d.alloc.Live(), d.alloc.Peak()
}

// Free hands b back to the device's allocator, whose cache keeps the block
// for the next allocation of its size.
func (d *Device) Free(b kernels.Buffer) { d.alloc.Free(b.(kcuda.Buf)) }

// GPUMemory is the free and total memory of the device's GPU, as the driver
// reports it: what every context and process on the GPU leaves free.
func (d *Device) GPUMemory() (free, total int64, err error) {
	prev := d.enter()
	defer d.leave(prev)
	free, total, err = cu.MemInfo()
	return free, total, check("cuMemGetInfo", err)
}

// Events reports how many events the device has made and how many are
// handed out now: a long run must not make more and more.
func (d *Device) Events() (made, out int) { return d.events.counts() }

// Close waits for the device's work, then releases its kernels, memory,
// streams, events and context (the last partition of a GPU destroys the
// green contexts; the primary context is released). Closing twice is a no-op.
func (d *Device) Close() error {
	d.closeOnce.Do(func() {
		d.closeErr = d.free()
		d.gpu.release(d)
	})
	return d.closeErr
}

// free releases what the device made on its context; the GPU is left to
// Close (or, on an error while opening, to the opener).
func (d *Device) free() error {
	if d.ctx == (cu.CUContext{}) {
		return nil
	}
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	prev := ctxCurrent()
	if err := setCurrent(d.ctx); err != nil {
		return &DeviceError{Device: d.name, Err: err}
	}
	errs := d.freeOnContext()
	if d.own != (cu.CUContext{}) {
		if prev == d.own {
			prev = cu.CUContext{}
		}
		errs = append(errs, check("cuCtxDestroy", d.own.Destroy()))
	}
	if prev != d.ctx {
		cu.SetCurrentContext(prev)
	}
	d.ctx = cu.CUContext{}
	if err := errors.Join(errs...); err != nil {
		return &DeviceError{Device: d.name, Err: err}
	}
	return nil
}

// freeOnContext drains the streams and releases the kernels, memory,
// staging buffers, streams and events; d's context is current.
func (d *Device) freeOnContext() []error {
	var errs []error
	streams := []*cu.Stream{&d.compute, &d.copy}
	for _, s := range streams {
		if *s != cu.NoStream {
			errs = append(errs, check("cuStreamSynchronize", s.Synchronize()))
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
			errs = append(errs, check("cuMemFreeHost", cu.MemFreeHost(r.host)))
			r.host = nil
		}
	}
	d.pending = nil
	d.mu.Unlock()
	for _, s := range streams {
		if *s != cu.NoStream {
			errs = append(errs, check("cuStreamDestroy", s.Destroy()))
		}
	}
	d.events.destroy()
	return errs
}
