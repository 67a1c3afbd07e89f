//go:build cuda

// Pooled CUDA events: Record hands out an event that goes back to its device's pool once nothing can use it.

package cuda

import (
	goruntime "runtime"
	"sync"
	"sync/atomic"

	"gorgonia.org/cu"

	"baton/runtime/device"
)

// cudaEvent is a device.Event of a CUDA device: a timing event recorded on its
// compute stream. When the value becomes unreachable its cu.Event returns to
// the device's pool: by then every wait on it has been enqueued (the driver
// captured the record it waits for) and nobody can ask for its time.
type cudaEvent struct {
	ev       cu.Event
	dev      *Device
	cleanup  goruntime.Cleanup
	released atomic.Bool // Release returned it early: the cleanup must not
}

// eventPool reuses a device's events, so that a run of many steps makes a
// bounded number of them. Events are made in the device's context.
type eventPool struct {
	mu     sync.Mutex
	free   []cu.Event
	made   int // events made, all of which Close destroys
	out    int // handed out and not yet back
	all    []cu.Event
	closed bool
	fresh  int // events made since the last forced collection
}

// EventGCAt is how many events a device may have out before a garbage
// collection is forced to return the unreachable ones (a step holds a few
// hundred): a long run makes at most about this many more than it needs.
const EventGCAt = 4096

// get takes an event from the pool or makes one; the device's context must
// be current.
func (p *eventPool) get() (cu.Event, error) {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		e := p.free[n-1]
		p.free = p.free[:n-1]
		p.out++
		p.mu.Unlock()
		return e, nil
	}
	// Many events out and none free: the executor's records hold events
	// until they are dropped, and only a collection finds the dropped ones.
	collect := p.out >= EventGCAt && p.fresh >= EventGCAt/4
	if collect {
		p.fresh = 0
	}
	p.mu.Unlock()
	if collect {
		goruntime.GC() // runs the cleanups of unreachable events; they refill free
	}
	e, err := cu.MakeEvent(cu.DefaultEvent)
	if err != nil {
		return e, check("cuEventCreate", err)
	}
	p.mu.Lock()
	p.made++
	p.fresh++
	p.out++
	p.all = append(p.all, e)
	p.mu.Unlock()
	return e, nil
}

// put returns an event to the pool.
func (p *eventPool) put(e cu.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.out--
	p.free = append(p.free, e)
}

// counts reports the events made and those out.
func (p *eventPool) counts() (made, out int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.made, p.out
}

// destroy destroys every event the pool made; the context must be current.
func (p *eventPool) destroy() {
	p.mu.Lock()
	all := p.all
	p.all, p.free, p.closed = nil, nil, true
	p.mu.Unlock()
	for i := range all {
		cu.DestroyEvent(&all[i])
	}
}

// wrap makes the Event value for e, returning e to the pool when it is dropped.
func (d *Device) wrap(e cu.Event) *cudaEvent {
	w := &cudaEvent{ev: e, dev: d}
	w.cleanup = goruntime.AddCleanup(w, d.events.put, e)
	return w
}

// Release returns e to the pool now, rather than when the garbage collector
// finds it unreachable: for timing events whose times have been read and
// that nothing waits on. A step's records make hundreds, and a pool refilled
// only by collections keeps growing between them. Releasing twice is
// harmless; so is releasing another device's event (ignored).
func (d *Device) Release(e device.Event) {
	w, ok := e.(*cudaEvent)
	if !ok || w.dev != d || w.released.Swap(true) {
		return
	}
	w.cleanup.Stop()
	d.events.put(w.ev)
}
