// Virtual CPU devices: the stream is the calling worker, events are timestamps.

package runtime

import (
	"sync/atomic"
	"time"

	"baton/kernels"
	"baton/kernels/cpu"
)

// CPUDevice is a virtual device on the host's cores. Its stream is the one
// goroutine that drives it (the executor's worker), so work is done when a
// call returns and an event is the time it was recorded. Its memory is its
// own: buffers come from its Ops, counted, and transfers copy between them.
type CPUDevice struct {
	name string
	ops  *countingOps
}

// NewCPUDevice makes a virtual CPU device.
func NewCPUDevice(name string) *CPUDevice {
	return &CPUDevice{name: name, ops: &countingOps{Ops: cpu.New()}}
}

type cpuEvent time.Time

func (d *CPUDevice) Name() string               { return d.name }
func (d *CPUDevice) Ops() kernels.Ops           { return d.ops }
func (d *CPUDevice) Record() Event              { return cpuEvent(time.Now()) }
func (d *CPUDevice) Wait(Event)                 {} // the event was recorded before it could be handed over
func (d *CPUDevice) Sync()                      {}
func (d *CPUDevice) Close() error               { return nil }
func (d *CPUDevice) Bind() (unbind func())      { return noUnbind }
func (d *CPUDevice) Memory() (live, peak int64) { return d.ops.live.Load(), d.ops.peak.Load() }
func (d *CPUDevice) Elapsed(a, b Event) time.Duration {
	return time.Time(b.(cpuEvent)).Sub(time.Time(a.(cpuEvent)))
}

// CopyTo copies between the host memory of two virtual devices.
func (d *CPUDevice) CopyTo(peer Device, dst, src kernels.Buffer) {
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
