// The watchdog of a wait: how long it has lasted while no device progressed, counting only the time the process ran.

package runtime

import (
	"sync"
	"time"
)

// maxBeat is the watchdog's heartbeat at most: fine enough for the default
// timeout of minutes, and a wait of a few ticks a second costs nothing.
const maxBeat = 100 * time.Millisecond

// watchdog times one wait against a limit. It counts the process's running
// time only: a heartbeat ticks every beat, and the time between two ticks
// counts as at most two beats. A gap far longer than that means the whole
// process was not running (SIGSTOP, a debugger's breakpoint, a suspended
// machine), and then no device stalled: all of them were stopped alike. A
// device that really stalls (a copy over a broken link, a kernel that never
// returns) blocks its own goroutine only, so the heartbeat goes on and the
// wait runs out. Under a heavy load that delays the ticks themselves the
// wait counts less than the wall clock, never more: a slow machine gets
// more patience, not a failed step.
//
// And since a stall is a device making no progress while others wait on
// it, the count starts over whenever moved reports that some device has
// gone on to its next action: a wait behind a long chain of busy neighbours
// is not a stall either.
type watchdog struct {
	limit  time.Duration // 0: no limit, the heartbeat never starts
	beat   time.Duration
	ticker *time.Ticker
	last   time.Time     // the previous tick, or the start
	waited time.Duration // running time since the start or the last progress
	moved  func() int64  // a count that grows with any progress; nil: none counted
	seen   int64
}

// newWatchdog starts timing a wait that may last limit (0: forever).
func newWatchdog(limit time.Duration, moved func() int64) *watchdog {
	w := &watchdog{}
	w.start(limit, moved)
	return w
}

// start times a new wait on w, as newWatchdog would, reusing its ticker.
func (w *watchdog) start(limit time.Duration, moved func() int64) {
	*w = watchdog{limit: limit, moved: moved, last: time.Now(), ticker: w.ticker}
	if moved != nil {
		w.seen = moved()
	}
	if limit > 0 {
		// Ten beats to a limit, so that a short one (a test's) runs out
		// close to on time.
		w.beat = min(maxBeat, max(limit/10, time.Millisecond))
		if w.ticker == nil {
			w.ticker = time.NewTicker(w.beat)
		} else {
			w.ticker.Reset(w.beat)
		}
	}
}

// C is the heartbeat; a nil channel, which never delivers, without a limit.
func (w *watchdog) C() <-chan time.Time {
	if w.ticker == nil || w.limit <= 0 {
		return nil
	}
	return w.ticker.C
}

// expired counts a heartbeat's time and reports whether the wait has run
// out. Call it on each tick of C.
func (w *watchdog) expired() bool {
	return w.count(time.Now())
}

// count is expired at the time now, for tests that play the clock.
func (w *watchdog) count(now time.Time) bool {
	gap := min(now.Sub(w.last), 2*w.beat)
	w.last = now
	if w.moved != nil {
		if m := w.moved(); m != w.seen {
			w.seen, w.waited = m, 0
			return false
		}
	}
	w.waited += gap
	return w.limit > 0 && w.waited >= w.limit
}

// stop ends the heartbeat.
func (w *watchdog) stop() {
	if w.ticker != nil {
		w.ticker.Stop()
	}
}

// watchdogs lends waits their watchdogs and takes them back stopped, so
// that the waits of a step in steady state allocate none (a ticker each).
type watchdogs struct {
	mu   sync.Mutex
	free []*watchdog
}

// start is a started watchdog (newWatchdog), a returned one if any.
func (p *watchdogs) start(limit time.Duration, moved func() int64) *watchdog {
	p.mu.Lock()
	var w *watchdog
	if n := len(p.free); n > 0 {
		w, p.free = p.free[n-1], p.free[:n-1]
	}
	p.mu.Unlock()
	if w == nil {
		w = new(watchdog)
	}
	w.start(limit, moved)
	return w
}

// stop stops w and takes it back.
func (p *watchdogs) stop(w *watchdog) {
	w.stop()
	w.moved = nil
	p.mu.Lock()
	p.free = append(p.free, w)
	p.mu.Unlock()
}
