// Slowed devices: a virtual CPU device made F times slower (cpu:1~2), so imbalance and stragglers can be shown and tested anywhere.

package device

import "time"

// Stretcher is a device whose work is made longer on purpose. The executor
// calls Stretch at the end of each unit of work it times, with the event
// the unit began at.
type Stretcher interface {
	Stretch(since Event)
}

// Stretch makes the work since since on d take Slow times as long, by
// sleeping (Slow-1) times what it took: a sleep, not a spin, so that a
// slowed device takes no core from the others and the slow-down is the
// same on a loaded machine.
func (d *CPU) Stretch(since Event) {
	if d.slow > 1 {
		time.Sleep(time.Duration(float64(time.Since(since.(*cpuEvent).at)) * (d.slow - 1)))
	}
}

// StretchSince stretches the work on dev since since, when dev is slowed.
func StretchSince(dev Device, since Event) {
	if s, ok := dev.(Stretcher); ok {
		s.Stretch(since)
	}
}
