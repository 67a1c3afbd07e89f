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
		d.stretchBy(time.Since(since.(*cpuEvent).at), sleepFor)
	}
}

// maxCredit bounds how much shorter later sleeps may be for what one
// overslept: a process stopped in a sleep (Ctrl-Z) must not leave the
// device fast for as long.
const maxCredit = 5 * time.Millisecond

// stretchBy sleeps (Slow-1) times work, less what earlier sleeps overshot
// (or plus what they fell short; sleep says how long it slept). A sleep
// wakes late by up to a scheduler tick, which on units of a tenth of a
// millisecond (the tiny model's) made cpu:0~2 four or five times slower,
// not twice: carried over, the total comes out right.
func (d *CPU) stretchBy(work time.Duration, sleep func(time.Duration) time.Duration) {
	d.stretchMu.Lock()
	defer d.stretchMu.Unlock()
	owed := d.owed + time.Duration(float64(work)*(d.slow-1))
	if owed > 0 {
		owed -= sleep(owed)
	}
	d.owed = max(owed, -maxCredit)
}

// sleepFor sleeps for d and says how long it slept.
func sleepFor(d time.Duration) time.Duration {
	t0 := time.Now()
	time.Sleep(d)
	return time.Since(t0)
}

// StretchSince stretches the work on dev since since, when dev is slowed.
func StretchSince(dev Device, since Event) {
	if s, ok := dev.(Stretcher); ok {
		s.Stretch(since)
	}
}
