//go:build cuda

// CUDA graphs: a stretch of a device's compute-stream work captured once as a graph and replayed, with the uploads it makes hoisted before each launch.

package cuda

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"gorgonia.org/cu"

	"baton/kernels"
	kcuda "baton/kernels/cuda"
)

// Replayable is a captured stretch of work (CaptureGraph): Launch enqueues
// it again on the device's compute stream, after uploading its inputs.
type Replayable = interface {
	// Launch replays the work with inputs in place of the slices it
	// uploaded from when it was captured (the same count and lengths).
	Launch(inputs [][]int32) error
	// Stale says the device has allocated or freed memory since the
	// capture, so the graph may name buffers that moved: capture again.
	Stale() bool
	Close() error
}

// Graph is work of a device's compute stream captured once (a CUDA graph's
// instance), to be launched again in one call instead of one launch per
// kernel. Uploads the work made are not in it: each Launch makes them first,
// from that launch's inputs, on the same stream.
type Graph struct {
	d       *Device
	exec    graphExec
	epoch   allocEpoch
	uploads []hoisted
	closed  bool
}

var _ Replayable = (*Graph)(nil)

// hoisted is an upload made during a capture: into dst, from the capture's
// input (its index) at element off.
type hoisted struct {
	dst   kcuda.Buf
	input int
	off   int
}

// captureState is what the device's Ops see while a capture runs: the
// inputs uploads may come from, the uploads hoisted so far, the buffers
// allocated (whose zeroing the capture took), and why the capture cannot
// stand (nil: it can).
type captureState struct {
	inputs  [][]int32
	uploads []hoisted
	allocs  []kernels.Buffer
	why     error
}

// refuse records the first reason the capture cannot be used.
func (st *captureState) refuse(err error) {
	if st.why == nil {
		st.why = err
	}
}

// hoist records an upload of src into dst for every launch, src being part
// of one of the capture's inputs.
func (st *captureState) hoist(dst kernels.Buffer, src []int32) {
	b, ok := dst.(kcuda.Buf)
	if !ok || !b.Int || b.N != len(src) {
		st.refuse(fmt.Errorf("an upload into %T of %d int32", dst, len(src)))
		return
	}
	if len(src) == 0 {
		return
	}
	p := uintptr(unsafe.Pointer(&src[0]))
	for i, in := range st.inputs {
		if len(in) == 0 {
			continue
		}
		base := uintptr(unsafe.Pointer(&in[0]))
		if p >= base && p+4*uintptr(len(src)) <= base+4*uintptr(len(in)) {
			st.uploads = append(st.uploads, hoisted{dst: b, input: i, off: int(p-base) / 4})
			return
		}
	}
	st.refuse(fmt.Errorf("an upload of %d int32 from outside the captured work's inputs", len(src)))
}

// allocEpoch changes whenever the device allocates or frees memory: a
// graph captured in one epoch may name buffers that are gone in another.
type allocEpoch struct {
	allocs  uint64 // the Ops' allocations (their zeroing fences)
	live    int64
	mallocs int
}

func (d *Device) epoch() allocEpoch {
	d.ops.mu.Lock()
	gen := d.ops.gen
	d.ops.mu.Unlock()
	return allocEpoch{allocs: gen, live: d.alloc.Live(), mallocs: d.alloc.Mallocs()}
}

// GraphStats counts the device's graphs: captured, launched again, and
// captures given up (the work then ran directly).
type GraphStats struct {
	Captured, Replayed, Refused int64
}

type graphCounts struct{ captured, replayed, refused atomic.Int64 }

// GraphStats reports the device's graph counts so far.
func (d *Device) GraphStats() GraphStats {
	return GraphStats{Captured: d.graphs.captured.Load(), Replayed: d.graphs.replayed.Load(), Refused: d.graphs.refused.Load()}
}

// ErrNotCaptured wraps why CaptureGraph ran its work directly.
var ErrNotCaptured = errors.New("not captured")

// CaptureGraph runs work once, capturing what it enqueues on the device's
// compute stream into a graph that Launch replays. Its uploads of int32
// data from inputs are hoisted: made before each launch from that launch's
// inputs, so work must not read an upload's destination before uploading
// it. The work's buffers must stay where they are for the graph to be
// replayed (see Stale).
//
// Where the work cannot be captured — it allocates, downloads, waits for the
// device, uploads float32 or from elsewhere than inputs, or the driver
// refuses a call during the capture — nothing of the attempt reaches the
// device: the work runs again directly and the error (wrapping
// ErrNotCaptured) says why. A panic of that direct run is the work's own.
//
// Call it on a goroutine bound to the device (Bind), with nothing else
// issuing work to the device meanwhile.
func (d *Device) CaptureGraph(work func(), inputs [][]int32) (Replayable, error) {
	prev := d.enter()
	defer d.leave(prev)
	before := d.epoch()
	if err := beginCapture(d.compute); err != nil {
		return nil, d.direct(work, err)
	}
	st := &captureState{inputs: inputs}
	d.capture.Store(st)
	caught := catch(work)
	d.capture.Store(nil)
	exec, err := endCapture(d.compute)
	why := errors.Join(caught, st.why, err)
	if why == nil && d.epoch() != before {
		why = errors.New("the device allocated memory during the capture")
	}
	if why != nil {
		if err == nil {
			exec.destroy()
		}
		d.redoZeroing(st.allocs)
		return nil, d.direct(work, why)
	}
	g := &Graph{d: d, exec: exec, epoch: before, uploads: st.uploads}
	if err := g.launch(inputs); err != nil {
		g.Close()
		return nil, d.direct(work, err)
	}
	d.graphs.captured.Add(1)
	return g, nil
}

// direct runs work without capturing, after a capture failed for why.
func (d *Device) direct(work func(), why error) error {
	d.graphs.refused.Add(1)
	work()
	return fmt.Errorf("%s: %w: %w", d.name, ErrNotCaptured, why)
}

// catch runs f, returning its panic as an error.
func catch(f func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if e, ok := p.(error); ok {
				err = e
				return
			}
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	f()
	return nil
}

// redoZeroing zeroes, now that the stream no longer captures, the buffers
// allocated during a capture that was thrown away with their zeroing, and
// re-records the zeroing fence (its record was in the capture too).
func (d *Device) redoZeroing(allocs []kernels.Buffer) {
	if len(allocs) == 0 {
		return
	}
	for _, b := range allocs {
		buf := b.(kcuda.Buf)
		d.must(check("cuMemsetD8Async", cu.MemsetD8Async(buf.Ptr, 0, buf.Bytes(), d.compute)))
		if buf.Master != 0 {
			d.must(check("cuMemsetD8Async", cu.MemsetD8Async(buf.Master, 0, 4*int64(buf.N), d.compute)))
		}
	}
	d.ops.fenceZeroing()
}

// Launch makes the graph's uploads from inputs, then enqueues its work on
// the device's compute stream.
func (g *Graph) Launch(inputs [][]int32) error {
	prev := g.d.enter()
	defer g.d.leave(prev)
	if err := g.launch(inputs); err != nil {
		return err
	}
	g.d.graphs.replayed.Add(1)
	return nil
}

func (g *Graph) launch(inputs [][]int32) error {
	if g.closed {
		return fmt.Errorf("%s: launch of a closed graph", g.d.name)
	}
	for _, u := range g.uploads {
		if u.input >= len(inputs) || u.off+u.dst.N > len(inputs[u.input]) {
			return fmt.Errorf("%s: a graph launched with %d inputs, which do not hold its upload of %d int32 from input %d at %d",
				g.d.name, len(inputs), u.dst.N, u.input, u.off)
		}
		g.d.ops.Ops.UploadInt(u.dst, inputs[u.input][u.off:u.off+u.dst.N])
	}
	if err := g.exec.launch(g.d.compute); err != nil {
		return &DeviceError{Device: g.d.name, Err: err}
	}
	return nil
}

// Stale says the device allocated or freed memory since the capture.
func (g *Graph) Stale() bool { return g.d.epoch() != g.epoch }

// Close destroys the graph (a launch in flight completes first). Closing
// twice is a no-op.
func (g *Graph) Close() error {
	if g.closed {
		return nil
	}
	g.closed = true
	prev := g.d.enter()
	defer g.d.leave(prev)
	if err := g.exec.destroy(); err != nil {
		return &DeviceError{Device: g.d.name, Err: err}
	}
	return nil
}
