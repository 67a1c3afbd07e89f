// Virtual CPU devices: the stream is the calling worker, events are instants of the one host clock.

package device

import (
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
}

// NewCPU makes a virtual CPU device.
func NewCPU(name string) *CPU {
	return &CPU{name: name, ops: &countingOps{Ops: cpu.New()}}
}

// NewSlowCPU makes a virtual CPU device slow times slower than NewCPU's.
func NewSlowCPU(name string, slow float64) *CPU {
	d := NewCPU(name)
	d.slow = slow
	return d
}

// cpuEvent is an instant of the host's clock.
type cpuEvent time.Time

func (d *CPU) Name() string               { return d.name }
func (d *CPU) Ops() kernels.Ops           { return d.ops }
func (d *CPU) Record() Event              { return cpuEvent(time.Now()) }
func (d *CPU) Wait(Event)                 {} // the event was recorded before it could be handed over
func (d *CPU) Sync()                      {}
func (d *CPU) Close() error               { return nil }
func (d *CPU) Bind() (unbind func())      { return noUnbind }
func (d *CPU) Memory() (live, peak int64) { return d.ops.live.Load(), d.ops.peak.Load() }

// Elapsed is the time from a to b, which may be recorded on any CPU device:
// they share one clock.
func (d *CPU) Elapsed(a, b Event) time.Duration {
	return time.Time(b.(cpuEvent)).Sub(time.Time(a.(cpuEvent)))
}

// SharedClock says that events of every CPU device may be compared.
func (d *CPU) SharedClock() bool { return true }

// CopyTo copies between the host memory of two virtual devices.
func (d *CPU) CopyTo(peer Device, dst, src kernels.Buffer) {
	copy(cpu.Floats(dst), cpu.Floats(src))
}

func noUnbind() {}

// countingOps counts the bytes a device allocates. Buffers are never freed
// individually (stashes are pooled), so live only grows, and peak is live.
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
