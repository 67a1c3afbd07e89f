// Virtual CPU devices: the stream is the calling worker, events are instants of the one host clock.

package device

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"baton/kernels"
	"baton/kernels/cpu"
)

// CPU is a virtual device on the host's cores. Its stream is the one
// goroutine that drives it (the executor's worker), so work is done when a
// call returns and an event is the instant it was recorded, on the host's
// monotonic clock: every CPU device reads the same clock, so their events
// are comparable across devices. Its memory is its own: buffers come from
// its Ops, counted, and transfers copy between them.
type CPU struct {
	name string
	ops  *countingOps
	slow float64 // >1: every unit of work takes this many times as long (see Stretch)

	stretchMu sync.Mutex
	owed      time.Duration // sleep owed by earlier stretches (<0: overslept), for the next

	mu   sync.Mutex
	free []*cpuEvent // events handed back by Release, for Record to reuse
}

// eventBatch is how many events Record makes at once when none is free:
// more than a step of a small model holds at a time, so that the first
// step makes every event later steps need whatever the order in which
// the devices hand them back.
const eventBatch = 256

// NewCPU makes a virtual CPU device.
func NewCPU(name string) *CPU {
	return &CPU{name: name, ops: &countingOps{Ops: cpu.New()}}
}

// CPUKernels names the instruction set CPU devices compute with (generic,
// avx2 or avx512), for the run's record.
func CPUKernels() string { return cpu.InstructionSet() }

// NewSlowCPU makes a virtual CPU device slow times slower than NewCPU's.
func NewSlowCPU(name string, slow float64) *CPU {
	d := NewCPU(name)
	d.slow = slow
	return d
}

// cpuEvent is an instant of the host's clock. Events are pooled (Record,
// Release), so that a step in steady state allocates none: a time.Time
// stored in an Event interface would be an allocation per Record.
type cpuEvent struct {
	at   time.Time
	free atomic.Bool // in a device's pool: Release again does nothing
}

func (d *CPU) Name() string               { return d.name }
func (d *CPU) Ops() kernels.Ops           { return d.ops }
func (d *CPU) Wait(Event)                 {} // the event was recorded before it could be handed over
func (d *CPU) Sync()                      {}
func (d *CPU) Close() error               { return nil }
func (d *CPU) Bind() (unbind func())      { return noUnbind }
func (d *CPU) Memory() (live, peak int64) { return d.ops.live.Load(), d.ops.peak.Load() }

// Free stops counting b; the garbage collector frees it once nobody holds it.
func (d *CPU) Free(b kernels.Buffer) { d.ops.add(-b.Len()) }

// Record takes an event from the pool, or a new one, and stamps it now.
func (d *CPU) Record() Event {
	d.mu.Lock()
	if len(d.free) == 0 {
		batch := make([]cpuEvent, eventBatch)
		d.free = slices.Grow(d.free, cap(d.free)+eventBatch)
		for i := range batch {
			d.free = append(d.free, &batch[i])
		}
	}
	n := len(d.free)
	e := d.free[n-1]
	d.free = d.free[:n-1]
	d.mu.Unlock()
	e.free.Store(false)
	e.at = time.Now()
	return e
}

// Release takes back an event nobody will read again (device.EventReleaser)
// for Record to reuse; any CPU device's event will do, and a second Release
// of one event does nothing.
func (d *CPU) Release(ev Event) {
	e, ok := ev.(*cpuEvent)
	if !ok || !e.free.CompareAndSwap(false, true) {
		return
	}
	d.mu.Lock()
	d.free = append(d.free, e)
	d.mu.Unlock()
}

// Elapsed is the time from a to b, which may be recorded on any CPU device:
// they share one clock.
func (d *CPU) Elapsed(a, b Event) time.Duration {
	return b.(*cpuEvent).at.Sub(a.(*cpuEvent).at)
}

// SharedClock says that events of every CPU device may be compared.
func (d *CPU) SharedClock() bool { return true }

// CopyTo copies between the host memory of two virtual devices.
func (d *CPU) CopyTo(peer Device, dst, src kernels.Buffer) {
	copy(cpu.Floats(dst), cpu.Floats(src))
}

func noUnbind() {}

// countingOps counts the bytes a device allocates, 4 per element, less
// those handed back by Free (the stages a re-split drops): peak is the
// most live at once.
type countingOps struct {
	kernels.Ops
	live, peak atomic.Int64
}

func (o *countingOps) add(n int) {
	v := o.live.Add(int64(n) * 4)
	for {
		p := o.peak.Load()
		if v <= p || o.peak.CompareAndSwap(p, v) {
			return
		}
	}
}

func (o *countingOps) Alloc(n int) kernels.Buffer    { o.add(n); return o.Ops.Alloc(n) }
func (o *countingOps) AllocInt(n int) kernels.Buffer { o.add(n); return o.Ops.AllocInt(n) }
func (o *countingOps) AllocAs(n int, s kernels.Storage) kernels.Buffer {
	o.add(n)
	return o.Ops.AllocAs(n, s)
}
