// A step's transfers: sends to the neighbouring stage over a link, to another rank or by a copy, and the receives that wait for them.

package runtime

import (
	"baton/internal/field"
	"baton/kernels"
	"baton/runtime/device"
	"baton/runtime/schedule"
	"fmt"
)

// sendForward hands stage a.Stage's output to the next stage: over a
// link, to another rank, or by a copy into the next stage's stash.
func (r *run) sendForward(dev device.Device, st *Stage, a schedule.Action) error {
	mb := a.Microbatch
	out := st.stashes.get(mb, "SEND_F").Output()
	if away, err := r.sendAway(dev, st, a, msgActivation, a.Stage+1, out); away || err != nil {
		return err
	}
	next := r.ex.Stages[a.Stage+1]
	in, fence := next.stashes.input(mb)
	if fence != nil {
		dev.Wait(fence) // the next stage's device may still read the stash
		next.release(fence)
	}
	waitSends(dev, next, mb)
	dev.CopyTo(next.Device, in.Input(), out)
	return nil
}

// sendBackward hands stage a.Stage's input gradient to the previous
// stage, as sendForward does its output to the next.
func (r *run) sendBackward(dev device.Device, st *Stage, a schedule.Action) error {
	mb := a.Microbatch
	grad := st.stashes.get(mb, "SEND_B").GradInput()
	if away, err := r.sendAway(dev, st, a, msgGradient, a.Stage-1, grad); away || err != nil {
		return err
	}
	prev := r.ex.Stages[a.Stage-1]
	dev.CopyTo(prev.Device, prev.stashes.get(mb, "RECV_B").GradOutput(), grad)
	return nil
}

// sendAway sends buf, message kind, to stage to over a link or to another
// rank; away is false when to is a stage of this process with no link,
// which the caller copies to.
func (r *run) sendAway(dev device.Device, st *Stage, a schedule.Action, kind uint8, to int, buf kernels.Buffer) (away bool, err error) {
	if l := r.ex.link(kind, to); l != nil {
		ev, err := l.Send(buf)
		if err != nil {
			return true, &linkError{fmt.Errorf("%s: %w", a, err)}
		}
		st.stashes.sent(a.Microbatch, ev)
		return true, nil
	}
	if r.ex.remote(to) {
		return true, r.sendBuffer(dev, a, to, r.tag(kind, to, a.Microbatch), buf)
	}
	return false, nil
}

// awaitReceive waits on dev for the send rec's receive takes: another
// rank's message, or a send of this process's.
func (r *run) awaitReceive(dev device.Device, st *Stage, rec *timedAction) error {
	a := rec.Action
	if from := r.sender(a); r.ex.remote(from) {
		return r.receiveRemote(dev, st, rec, from)
	}
	ev, err := r.receive(a, r.mail[a])
	if err != nil {
		return err
	}
	dev.Wait(ev)
	rec.w1, rec.sent = dev.Record(), ev
	return nil
}

// sender is the stage whose send a receive waits for.
func (r *run) sender(a schedule.Action) int {
	if a.Kind == schedule.RecvF {
		return a.Stage - 1
	}
	return a.Stage + 1
}

// receiveRemote waits for a receive's message from another rank and lands
// it in the stage's stash: the activation in the stash it takes for the
// micro-batch (after the fence of its last use), the gradient in the
// micro-batch's. The wait ends when the message arrived; the copy follows.
func (r *run) receiveRemote(dev device.Device, st *Stage, rec *timedAction, from int) error {
	a := rec.Action
	kind := msgActivation
	if a.Kind == schedule.RecvB {
		kind = msgGradient
	}
	var dst kernels.Buffer
	if a.Kind == schedule.RecvB {
		dst = st.stashes.get(a.Microbatch, "RECV_B").GradOutput()
	} else {
		in, fence := st.stashes.input(a.Microbatch)
		if fence != nil {
			dev.Wait(fence)
			st.release(fence)
		}
		waitSends(dev, st, a.Microbatch)
		dst = in.Input()
	}
	if l := r.ex.link(kind, a.Stage); l != nil {
		// The device's stream waits for the data: the wait ends, on the
		// device's timeline, when they have come.
		if err := l.Recv(dst); err != nil {
			return &linkError{fmt.Errorf("%s: %w", a, err)}
		}
		rec.w1 = dev.Record()
		return nil
	}
	msg, err := r.receiveMessage(a, from, r.tag(kind, a.Stage, a.Microbatch))
	if err != nil {
		return err
	}
	rec.w1 = dev.Record()
	return landBuffer(dev, dst, msg)
}

// waitSends makes dev wait for the sends over links that still read stage
// st's stash of micro-batch mb from its previous micro-batch, and hands
// their events back to st's device.
func waitSends(dev device.Device, st *Stage, mb int) {
	for _, ev := range st.stashes.takeSends(mb) {
		dev.Wait(ev)
		st.release(ev)
	}
}

// receive waits for a neighbour's event, or fails saying what every device
// is doing once it has waited the executor's timeout while no device
// progressed, in the time the process ran (see watchdog).
func (r *run) receive(a schedule.Action, ch chan device.Event) (device.Event, error) {
	return await(r, ch, nil, func() error {
		return field.Errorf("timeout", "waited %v for %s without progress; devices are at: %s (an action that runs longer than {timeout} is taken for a hang: raise {timeout} if one does)", r.ex.Timeout, a, r.where())
	})
}
