// A device's worker: its action list run in order, each action bracketed by events, and what it says when the step fails.

package runtime

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"baton/runtime/device"
	"baton/runtime/schedule"
	"baton/transformer"
)

// timedAction is one action run by a worker and the events around it, on
// the worker's device. A receive starts when the device became free (its
// previous action's end, or the step's origin) and waits from there to w1;
// sent is its send's event, on the sender's device.
type timedAction struct {
	schedule.Action
	start, end, w1, sent device.Event
	units                []unitMark // with ProfileLayers: where each unit of a compute action ended
}

// unitMark is the event at which a unit (model.Config.UnitName) ended.
type unitMark struct {
	unit int
	at   device.Event
}

// worker runs device d's list from origin and returns its timed actions,
// appended to recs (empty; its capacity is reused when it holds the list).
func (r *run) worker(d int, origin device.Event, recs []timedAction) []timedAction {
	dev := r.ex.Devices[d]
	list := r.lists[d]
	if cap(recs) < len(list) {
		recs = make([]timedAction, 0, len(list))
	}
	free := origin // when the device finished its last action
	for i, a := range list {
		r.progress[d].Store(int64(i))
		var err error
		if a.Kind == schedule.Step {
			recs, err = r.steps(dev, list[i:], recs)
		} else {
			// In place: a record the action's closures may keep (a
			// probe's) is then not one allocation per action.
			recs = append(recs, timedAction{Action: a})
			rec := &recs[len(recs)-1]
			err = guard(func() error { return r.do(dev, rec, free) })
			free = rec.end
		}
		switch {
		case err == nil:
			if a.Kind == schedule.Step {
				r.progress[d].Store(int64(len(list)))
				return recs
			}
		case err == errAborted:
			return recs
		case notTheSchedules(err):
			r.fail(err) // not the schedule's fault: the grid would not help
			return recs
		default:
			r.fail(fmt.Errorf("%s: action %s failed: %w\n%s", dev.Name(), a, err, r.grid(d, i)))
			return recs
		}
	}
	r.progress[d].Store(int64(len(list)))
	return recs
}

// notTheSchedules says err is a numerical fault or a broken link, which
// the grid of actions would not explain. (Its own function: the targets of
// errors.As escape, and would cost every action an allocation.)
func notTheSchedules(err error) bool {
	var numeric *NumericError
	var link *linkError
	return errors.As(err, &numeric) || errors.As(err, &link)
}

// do runs one action other than STEP; free is when the device finished its
// previous action.
func (r *run) do(dev device.Device, rec *timedAction, free device.Event) error {
	a := rec.Action
	st := r.ex.Stages[a.Stage]
	mb := a.Microbatch
	if a.Kind != schedule.RecvF && a.Kind != schedule.RecvB {
		rec.start = dev.Record()
	}
	var err error
	switch a.Kind {
	case schedule.F, schedule.B, schedule.I, schedule.W:
		r.compute(dev, st, rec)
	case schedule.SendF:
		err = r.sendForward(dev, st, a)
	case schedule.SendB:
		err = r.sendBackward(dev, st, a)
	case schedule.RecvF, schedule.RecvB:
		// The wait is the device's: it starts when the device became
		// free, not when this goroutine got here.
		rec.start = free
		err = r.awaitReceive(dev, st, rec)
	default:
		err = fmt.Errorf("the executor has no implementation of %s actions", a.Kind)
	}
	if err != nil {
		return err
	}
	rec.end = dev.Record()
	if r.rules.Releases(a) {
		// A fence of its own: the records' events go back to the device's
		// pool after the step, and the stash keeps its fence until reused.
		st.stashes.release(mb, dev.Record())
	}
	switch {
	case a.Kind == schedule.SendF && !r.ex.remote(a.Stage+1):
		r.mail[schedule.Action{Stage: a.Stage + 1, Kind: schedule.RecvF, Microbatch: mb}] <- rec.end
	case a.Kind == schedule.SendB && !r.ex.remote(a.Stage-1):
		r.mail[schedule.Action{Stage: a.Stage - 1, Kind: schedule.RecvB, Microbatch: mb}] <- rec.end
	}
	return nil
}

// compute runs a forward or backward action. A slowed device stretches
// each unit it times (or the whole action), so per-unit times show the
// slow-down as the action's do.
func (r *run) compute(dev device.Device, st *Stage, rec *timedAction) {
	stack, mb := st.Stack, rec.Microbatch
	var probe *unitProbe // made only when profiling: it escapes into the stack
	if r.in.ProfileLayers {
		probe = &unitProbe{dev: dev, rec: rec, last: rec.start}
		stack.Probe = probe.mark
		defer func() { stack.Probe = nil }()
	}
	var acts *transformer.Acts
	switch rec.Kind {
	case schedule.F:
		var fence device.Event
		acts, fence = st.stashes.own(mb)
		st.release(fence)
		waitSends(dev, st, mb)
	case schedule.B:
		acts = st.stashes.get(mb, "B")
	case schedule.I:
		acts = st.stashes.get(mb, "I")
	case schedule.W:
		acts = st.stashes.get(mb, "W") // after the SEND_B of its I, so the stash is done
	}
	if !r.graphed(dev, st, rec, acts) { // graphs.go
		r.act(stack, rec.Action, acts)
	}
	last := rec.start
	if probe != nil {
		last = probe.last
	}
	st.stretch(last)
}

// act runs compute action a's kernels on its stash acts.
func (r *run) act(stack *transformer.Stack, a schedule.Action, acts *transformer.Acts) {
	switch a.Kind {
	case schedule.F:
		var tokens, targets []int32
		if stack.Spec().Embed {
			tokens = r.in.Tokens[a.Microbatch]
		}
		if stack.Spec().Head {
			targets = r.in.Targets[a.Microbatch]
		}
		stack.Forward(acts, a.Microbatch, tokens, targets, r.in.DScale)
	case schedule.B:
		stack.Backward(acts)
	case schedule.I:
		stack.BackwardInput(acts)
	case schedule.W:
		stack.BackwardWeight(acts)
	}
}

// unitProbe marks, with ProfileLayers, the end of each unit of a compute
// action on its record.
type unitProbe struct {
	dev  device.Device
	rec  *timedAction
	last device.Event // the previous unit's end, or the action's start
}

func (p *unitProbe) mark(unit int) {
	device.StretchSince(p.dev, p.last)
	p.last = p.dev.Record()
	p.rec.units = append(p.rec.units, unitMark{unit, p.last})
}

// await waits for ch, failing with expired's error once the executor's
// timeout has passed without progress, errAborted on an abort, and with
// broken's error when broken closes (nil: never).
func await[T any](r *run, ch <-chan T, broken *brokenLink, expired func() error) (T, error) {
	return waitFor(ch, &r.ex.dogs, r.ex.Timeout, r.moved, r.abort, broken, expired)
}

// waitFor waits for ch, failing with expired's error once limit has passed
// in the time this process ran with no progress (moved's count unchanged;
// nil: none counted), errAborted when abort closes, and broken's error
// when broken closes (nil channels and broken: never). Its watchdog comes
// from dogs and goes back to them.
func waitFor[T any](ch <-chan T, dogs *watchdogs, limit time.Duration, moved func() int64, abort <-chan struct{}, broken *brokenLink, expired func() error) (T, error) {
	var none T
	select { // mostly it is there already: no heartbeat to start
	case v := <-ch:
		return v, nil
	default:
	}
	w := dogs.start(limit, moved)
	defer dogs.stop(w)
	var gone <-chan struct{}
	if broken != nil {
		gone = broken.c
	}
	for {
		select {
		case v := <-ch:
			return v, nil
		case <-abort:
			return none, errAborted
		case <-gone:
			return none, broken.err()
		case <-w.C():
			if w.expired() {
				return none, expired()
			}
		}
	}
}

// moves is a count that grows whenever any device goes on to its next action.
func (r *run) moves() int64 {
	var n int64
	for d := range r.progress {
		n += r.progress[d].Load()
	}
	return n
}

// where says which action each device is on.
func (r *run) where() string {
	var parts []string
	for d, l := range r.lists {
		if r.ex.Devices[d] == nil {
			continue // another rank's: its progress is not known here
		}
		i := int(r.progress[d].Load())
		at := "done"
		if i < len(l) {
			at = l[i].String()
		}
		parts = append(parts, fmt.Sprintf("%s at %s (%d/%d)", r.ex.Devices[d].Name(), at, i, len(l)))
	}
	return strings.Join(parts, ", ")
}

// grid prints every device's list with the failing action marked.
func (r *run) grid(failDev, failIdx int) string {
	var b strings.Builder
	for d, l := range r.lists {
		fmt.Fprintf(&b, "  %-8s", r.ex.devName(d))
		for i, a := range l {
			if d == failDev && i == failIdx {
				fmt.Fprintf(&b, " >>%s<<", a)
			} else {
				fmt.Fprintf(&b, " %s", a)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
