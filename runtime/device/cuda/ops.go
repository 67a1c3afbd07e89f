//go:build cuda

// A CUDA device's kernels as the stages see them: memory methods callable from any goroutine, and allocations fenced for the copies that fill them.

package cuda

import (
	"errors"
	"fmt"
	"sync"

	"gorgonia.org/cu"

	"baton/kernels"
	kcuda "baton/kernels/cuda"
)

// deviceOps are the device's kernels.Ops: kernels/cuda's, whose compute
// methods need the device's context current on the calling thread (a bound
// executor worker has it), with the methods the runtime also calls outside
// the workers — uploads and downloads when it initialises, restores or saves
// parameters — made to work from any goroutine by binding for the call.
// Every other method of *kcuda.Ops is promoted unchanged, so any optional
// interface it implements stays visible.
//
// Allocations are fenced: kernels/cuda zeroes a new buffer on the compute
// stream, and a neighbour's copy (on its own copy stream) may be the first
// to write it. So each allocation re-records the device's zeroing fence, an
// event after the zeroing, and every copy into the device waits for the
// fence once per new record (see waitZeroing).
type deviceOps struct {
	*kcuda.Ops
	d *Device

	mu    sync.Mutex
	fence cu.Event // recorded on the compute stream after the latest allocation's zeroing
	gen   uint64   // records of fence so far
}

var _ kernels.Ops = (*deviceOps)(nil)

func (o *deviceOps) bound(f func()) {
	prev := o.d.enter()
	defer o.d.leave(prev)
	f()
}

func (o *deviceOps) Upload(dst kernels.Buffer, src []float32) {
	if st := o.d.capture.Load(); st != nil {
		st.refuse(fmt.Errorf("an upload of %d float32", len(src)))
		return
	}
	o.bound(func() { o.Ops.Upload(dst, src) })
}

// RoundWeights follows an Upload when the runtime restores parameters, so
// it binds for the call as Upload does.
func (o *deviceOps) RoundWeights(params kernels.Buffer, seed uint64, t int) {
	o.bound(func() { o.Ops.RoundWeights(params, seed, t) })
}

func (o *deviceOps) UploadInt(dst kernels.Buffer, src []int32) {
	if st := o.d.capture.Load(); st != nil {
		st.hoist(dst, src) // made before each launch of the graph
		return
	}
	o.bound(func() { o.Ops.UploadInt(dst, src) })
}

func (o *deviceOps) Download(dst []float32, src kernels.Buffer) {
	if st := o.d.capture.Load(); st != nil {
		st.refuse(fmt.Errorf("a download of %d float32", len(dst)))
		return
	}
	o.bound(func() { o.Ops.Download(dst, src) })
}

func (o *deviceOps) Copy(dst, src kernels.Buffer) { o.bound(func() { o.Ops.Copy(dst, src) }) }
func (o *deviceOps) Zero(b kernels.Buffer)        { o.bound(func() { o.Ops.Zero(b) }) }

func (o *deviceOps) SumSquares(sums []float64, bufs []kernels.Buffer) {
	if st := o.d.capture.Load(); st != nil {
		st.refuse(errors.New("SumSquares, which reads its sums back"))
		return
	}
	o.bound(func() { o.Ops.SumSquares(sums, bufs) })
}

func (o *deviceOps) Alloc(n int) kernels.Buffer {
	b := o.Ops.Alloc(n) // kernels/cuda pushes the context itself
	o.fenceZeroing()
	o.captured(b)
	return b
}

func (o *deviceOps) AllocAs(n int, s kernels.Storage) kernels.Buffer {
	b := o.Ops.AllocAs(n, s)
	o.fenceZeroing()
	o.captured(b)
	return b
}

func (o *deviceOps) AllocInt(n int) kernels.Buffer {
	b := o.Ops.AllocInt(n)
	o.fenceZeroing()
	o.captured(b)
	return b
}

// captured notes b, allocated during a capture whose stream took its
// zeroing: the capture cannot stand, and b is zeroed again once it ends.
func (o *deviceOps) captured(b kernels.Buffer) {
	if st := o.d.capture.Load(); st != nil {
		st.allocs = append(st.allocs, b)
		st.refuse(fmt.Errorf("an allocation of %d elements", b.Len()))
	}
}

// fenceZeroing records the fence after the zeroing just enqueued.
func (o *deviceOps) fenceZeroing() {
	o.bound(func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.fence == (cu.Event{}) {
			e, err := o.d.events.get() // kept until Close
			o.d.must(err)
			o.fence = e
		}
		o.d.must(check("cuEventRecord", o.fence.Record(o.d.compute)))
		o.gen++
	})
}

// waitZeroing makes stream s (of any context) wait for the zeroing of every
// buffer allocated on the device so far, unless s already waited for the
// latest fence (seen is s's record of the generation it waited for).
func (o *deviceOps) waitZeroing(s cu.Stream, seen *uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fence == (cu.Event{}) || *seen == o.gen {
		return nil
	}
	if err := check("cuStreamWaitEvent", s.Wait(o.fence, 0)); err != nil {
		return err
	}
	*seen = o.gen
	return nil
}
