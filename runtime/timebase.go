// One time base for a step: every device's timeline starts at the same instant, so waits and flows between devices line up.

package runtime

import (
	"time"

	"baton/runtime/device"
	"baton/runtime/report"
)

// sharedClock is a device whose events any device of its kind can compare
// (virtual CPU devices read the host's one clock).
type sharedClock interface{ SharedClock() bool }

// timeBase is where a step's timelines start: origins[d] is device d's
// origin event. Devices that share a clock share one origin event; others
// are aligned by a barrier: each records its arrival, every device's
// stream waits for all arrivals, then records its origin. The origins then
// lie after the last arrival, apart only by how fast each stream resumes.
type timeBase struct {
	origins  []device.Event
	arrivals []device.Event // nil when the devices share a clock
	wall     time.Time
	devs     devices // what the devices can do, found at the first take
}

// devices is what a step's devices can do, found once: a type assertion
// to an interface, made at every step, now and then allocates (the
// runtime builds its cache for the call site at a random moment).
type devices struct {
	known  bool
	shared bool                   // allShareClock
	rel    []device.EventReleaser // per device: nil unless it pools its events
}

func (c *devices) find(devs []device.Device) {
	if c.known {
		return
	}
	c.known, c.shared = true, allShareClock(devs)
	c.rel = make([]device.EventReleaser, len(devs))
	for d, dev := range devs {
		c.rel[d], _ = dev.(device.EventReleaser)
	}
}

// take takes the step's origins on devs, reusing b's slices; a nil device
// (another rank's) gets none. Wall is the host's time at the origin, which
// places this rank's step on a timeline shared with the other ranks.
func (b *timeBase) take(devs []device.Device) {
	b.devs.find(devs)
	b.origins, b.wall = resize(b.origins, len(devs)), time.Now()
	b.arrivals = b.arrivals[:0]
	if b.devs.shared {
		var origin device.Event
		for d, dev := range devs {
			if dev != nil {
				if origin == nil {
					origin = dev.Record()
				}
				b.origins[d] = origin
			}
		}
		b.arrivals = nil
		return
	}
	b.arrivals = resize(b.arrivals, len(devs))
	for d, dev := range devs {
		if dev != nil {
			b.arrivals[d] = dev.Record()
		}
	}
	for d, dev := range devs {
		if dev == nil {
			continue
		}
		for _, e := range b.arrivals {
			if e != nil {
				dev.Wait(e)
			}
		}
		b.origins[d] = dev.Record()
	}
}

// resize is s with n elements, all zero, reusing its array when it can.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

func allShareClock(devs []device.Device) bool {
	n := 0
	for _, d := range devs {
		if d == nil {
			continue
		}
		if c, ok := d.(sharedClock); !ok || !c.SharedClock() {
			return false
		}
		n++
	}
	return n > 0
}

// times turns each device's events into times from its origin, once the
// device has drained (GPU events can be read only then), and estimates the
// skew between the origins: the time the last device to arrive at the
// barrier took to record its origin after its arrival, which is how long a
// stream takes to resume after the barrier. The events are then dropped
// (and handed back to a device that pools them): nothing reads them again.
// The result is res, overwritten with its slices reused, or a new one.
func (b *timeBase) times(devs []device.Device, records [][]timedAction, res *StepResult) *StepResult {
	if res == nil {
		res = &StepResult{}
	}
	kept := res.Records // each device's slice is reused by timeDevice
	if cap(kept) < len(records) {
		kept = make([][]report.Record, len(records))
	}
	*res = StepResult{Step: report.Step{Records: kept[:len(records)]}, Origin: b.wall}
	resume := time.Duration(-1)
	for d, recs := range records {
		if devs[d] == nil {
			res.Records[d] = nil
			continue
		}
		var last time.Duration
		res.Records[d], last = b.timeDevice(devs[d], b.devs.rel[d], d, recs, res.Records[d])
		res.Time = max(res.Time, last)
		if b.arrivals != nil {
			if r := devs[d].Elapsed(b.arrivals[d], b.origins[d]); resume < 0 || r < resume {
				resume = r
			}
		}
	}
	res.ClockSkew = max(resume, 0)
	for d := range devs {
		if rel := b.devs.rel[d]; rel != nil {
			rel.Release(b.origins[d])
			if b.arrivals != nil {
				rel.Release(b.arrivals[d])
			}
		}
	}
	return res
}

// reserve sizes r's slices to hold a result of the shape of like, so that
// a step run into r (Executor.RunInto) allocates nothing.
func (r *StepResult) reserve(like *StepResult) {
	if r == like {
		return
	}
	if cap(r.Records) < len(like.Records) {
		r.Records = make([][]report.Record, len(like.Records))
	}
	r.Records = r.Records[:len(like.Records)]
	for d, recs := range like.Records {
		if cap(r.Records[d]) < len(recs) {
			r.Records[d] = make([]report.Record, 0, len(recs))
		}
	}
}

// timeDevice times device d's actions and returns the end of its last.
// out's array is reused when it is large enough.
// rel is dev when it pools its events, else nil.
func (b *timeBase) timeDevice(dev device.Device, rel device.EventReleaser, d int, recs []timedAction, out []report.Record) (_ []report.Record, last time.Duration) {
	defer dev.Bind()()
	dev.Sync()
	origin := b.origins[d]
	out = resize(out, len(recs))
	shared := b.arrivals == nil
	for i, rec := range recs {
		out[i] = report.Record{Action: rec.Action, Start: dev.Elapsed(origin, rec.start), End: dev.Elapsed(origin, rec.end), Units: unitTimes(dev, rec)}
		if rec.w1 != nil {
			out[i].Wait = dev.Elapsed(rec.start, rec.w1)
			if shared && rec.sent != nil {
				// One clock: the wait ends when the send did. What follows,
				// until the worker ran again, is the host's delay, not the
				// neighbour's.
				out[i].Wait = min(out[i].Wait, max(dev.Elapsed(rec.start, rec.sent), 0))
			}
		}
		last = max(last, out[i].End)
	}
	if rel != nil {
		for _, rec := range recs {
			for _, e := range []device.Event{rec.start, rec.end, rec.w1} {
				if e != nil && e != origin {
					rel.Release(e)
				}
			}
			for _, u := range rec.units {
				rel.Release(u.at)
			}
		}
	}
	return out, last
}

// unitTimes is each timed unit's time: from the previous unit's end, or
// the action's start.
func unitTimes(dev device.Device, rec timedAction) []report.UnitTime {
	if len(rec.units) == 0 {
		return nil
	}
	out := make([]report.UnitTime, len(rec.units))
	from := rec.start
	for i, u := range rec.units {
		out[i] = report.UnitTime{Unit: u.unit, Time: dev.Elapsed(from, u.at)}
		from = u.at
	}
	return out
}
