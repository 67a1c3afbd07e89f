//go:build cuda

// A CUDA device's compute stream as the executor drives it: events recorded and waited on, the time between two, and draining.

package cuda

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"time"

	"gorgonia.org/cu"

	"baton/runtime/device"
)

// Record marks the current point of the compute stream with a timing event.
func (d *Device) Record() device.Event {
	prev := d.enter()
	defer d.leave(prev)
	e, err := d.events.get()
	d.must(err)
	w := d.wrap(e)
	d.must(check("cuEventRecord", e.Record(d.compute)))
	return w
}

// Wait makes the compute stream wait for e, recorded on any CUDA device
// (another context or GPU included).
func (d *Device) Wait(e device.Event) {
	ev, ok := e.(*cudaEvent)
	if !ok {
		d.fail(fmt.Errorf("Wait on %T: a CUDA device can wait only on events of CUDA devices", e))
	}
	prev := d.enter()
	defer d.leave(prev)
	d.must(check("cuStreamWaitEvent", d.compute.Wait(ev.ev, 0)))
	goruntime.KeepAlive(ev) // the wait is enqueued: the event may be reused after this
}

// Elapsed is the time from a to b, both recorded on this device. Both must
// have completed (the executor calls Sync first); if not, it waits for them.
func (d *Device) Elapsed(a, b device.Event) time.Duration {
	ea, oka := a.(*cudaEvent)
	eb, okb := b.(*cudaEvent)
	if !oka || !okb || ea.dev != d || eb.dev != d {
		d.fail(fmt.Errorf("Elapsed: both events must be recorded on %s", d.name))
	}
	prev := d.enter()
	defer d.leave(prev)
	ms, err := ea.ev.Elapsed(eb.ev)
	if errors.Is(err, cu.NotReady) {
		d.must(check("cuEventSynchronize", ea.ev.Synchronize()))
		d.must(check("cuEventSynchronize", eb.ev.Synchronize()))
		ms, err = ea.ev.Elapsed(eb.ev)
	}
	d.must(check("cuEventElapsedTime", err))
	goruntime.KeepAlive(ea)
	goruntime.KeepAlive(eb)
	return time.Duration(ms * float64(time.Millisecond))
}

// Sync waits until the compute and copy streams are drained, then settles
// the timings of the copies made since the last Sync.
func (d *Device) Sync() {
	prev := d.enter()
	defer d.leave(prev)
	d.must(check("cuStreamSynchronize", d.compute.Synchronize()))
	d.must(check("cuStreamSynchronize", d.copy.Synchronize()))
	d.must(d.settleCopies())
}
