// The end of a step: the tied embedding's gradient, the global gradient norm, clipping, AdamW, and numerical faults.

package runtime

import (
	"fmt"
	"math"

	"baton/internal/field"
	"baton/runtime/device"
	"baton/runtime/dist"
	"baton/runtime/schedule"
)

// steps runs the STEPs that end a device's list, one per stage it holds,
// in three phases over all of them, so that two stages on one device never
// wait for each other's later STEP: first each end of the tied embedding
// sends its part of the gradient to the other end; then each stage folds the
// tied gradient and publishes its gradients' sums of squares; then, once
// every stage has published, each applies AdamW with the same clipping scale
// (under the eager optimizer at once, unclipped: see eager.go).
//
// It appends the STEPs' records to recs.
func (r *run) steps(dev device.Device, tail []schedule.Action, recs []timedAction) ([]timedAction, error) {
	for i, a := range tail {
		if a.Kind != schedule.Step {
			return recs, fmt.Errorf("%s follows a STEP: a device's STEPs must end its list", a)
		}
		recs = append(recs, timedAction{Action: tail[i]})
	}
	own := recs[len(recs)-len(tail):]
	stage := func(i int) *Stage { return r.ex.Stages[tail[i].Stage] }
	own[0].start = dev.Record()
	err := guard(func() error {
		for i := range tail {
			if err := r.sendTied(stage(i)); err != nil {
				return err
			}
		}
		if r.ex.EagerOptimizer {
			for i := range tail {
				r.beginEager(stage(i))
			}
		}
		for i := range tail {
			if err := r.publishSquares(stage(i)); err != nil {
				return err
			}
		}
		for i := range tail {
			if i > 0 {
				own[i].start = dev.Record()
			}
			if err := r.apply(stage(i)); err != nil {
				return err
			}
			own[i].end = dev.Record()
		}
		return nil
	})
	return recs, err
}

// tiedPeer is the stage at the other end of the tied embedding from stage
// s, or -1 when s holds neither end or both.
func (r *run) tiedPeer(s int) int {
	last := len(r.ex.Stages) - 1
	switch {
	case last == 0:
		return -1
	case s == 0:
		return last
	case s == last:
		return 0
	}
	return -1
}

// sendTied copies st's part of the tied gradient into the other end's
// memory, or to its rank, in its STEP.
func (r *run) sendTied(st *Stage) error {
	other := r.tiedPeer(st.Index)
	switch {
	case other < 0:
	case r.ex.link(msgTied, 0) != nil:
		// Both ends exchange their parts in one call; publishSquares folds.
		if err := r.ex.link(msgTied, 0).Exchange(st.Stack.TiedGrad(), st.tiedRecv); err != nil {
			return &linkError{fmt.Errorf("the tied embedding's gradient: %w", err)}
		}
	case r.ex.remote(other):
		step := schedule.Action{Stage: st.Index, Kind: schedule.Step, Microbatch: -1}
		return r.sendBuffer(st.Device, step, other, r.tag(msgTied, other, 0), st.Stack.TiedGrad())
	default:
		peer := r.ex.Stages[other]
		st.Device.CopyTo(peer.Device, peer.tiedRecv, st.Stack.TiedGrad())
		r.tied[other] <- st.Device.Record()
	}
	return nil
}

// publishSquares makes st's tied gradient whole and publishes its squares
// (to the other ranks too, with the losses of the last stage).
func (r *run) publishSquares(st *Stage) error {
	stack := st.Stack
	wait := schedule.Action{Stage: st.Index, Kind: schedule.Step, Microbatch: -1}
	switch other := r.tiedPeer(st.Index); {
	case other >= 0 && r.ex.link(msgTied, 0) != nil:
		stack.FoldTiedGrad(st.tiedRecv) // sendTied's exchange landed it
	case other >= 0 && r.ex.remote(other):
		msg, err := r.receiveMessage(wait, other, r.tag(msgTied, st.Index, 0))
		if err != nil {
			return err
		}
		if err := landBuffer(st.Device, st.tiedRecv, msg); err != nil {
			return err
		}
		stack.FoldTiedGrad(st.tiedRecv)
	case other >= 0:
		ev, err := r.receive(wait, r.tied[st.Index])
		if err != nil {
			return err
		}
		st.Device.Wait(ev)
		r.ex.Stages[other].release(ev)
		stack.FoldTiedGrad(st.tiedRecv)
	case stack.HasTied():
		stack.FoldTiedGrad(nil)
	}
	if stack.Spec().Head {
		r.lossSums = stack.LossSums(len(r.in.Tokens)) // for nonFinite, before any stage applies
	}
	r.squares[st.Index] = stack.GradSquares()
	if r.ex.Group != nil {
		// One message: the count of squares, the squares, then the losses
		// when st is the last stage.
		msg := append([]float64{float64(len(r.squares[st.Index]))}, r.squares[st.Index]...)
		if stack.Spec().Head {
			msg = append(msg, r.lossSums...)
		}
		if err := r.sendValues(r.tag(msgSquares, st.Index, 0), msg); err != nil {
			return err
		}
	}
	r.published(st.Index)
	return nil
}

// published leaves stage s's tokens in squared: its squares are there.
func (r *run) published(s int) {
	for range r.readers {
		r.squared[s] <- struct{}{}
	}
}

// receiveSquares starts, for a training step in a run of several ranks, a
// goroutine per stage of another rank that waits for its squares (and, from
// the last stage, the losses) and publishes them as that stage's own
// publishSquares would; each leaves a token in done when it ends.
func (r *run) receiveSquares() {
	if r.ex.Group == nil || r.in.DScale == 0 {
		return
	}
	for s := range r.ex.Stages {
		if !r.ex.remote(s) {
			continue
		}
		r.started++
		go func() {
			defer func() { r.done <- struct{}{} }()
			wait := schedule.Action{Stage: s, Kind: schedule.Step, Microbatch: -1}
			msg, err := r.receiveMessage(wait, s, r.tag(msgSquares, s, 0))
			if err == nil {
				err = r.publishRemote(s, msg)
			}
			switch {
			case err == errAborted:
			case err != nil:
				r.fail(fmt.Errorf("stage %d's gradient norms: %w", s, err))
			}
		}()
	}
}

// publishRemote reads stage s's squares message (its count, the squares,
// then the losses of the last stage) and publishes them.
func (r *run) publishRemote(s int, msg []byte) error {
	all := make([]float64, len(msg)/8)
	if err := dist.DecodeFloat64s(msg, all); err != nil {
		return err
	}
	if len(all) == 0 {
		return fmt.Errorf("an empty squares message")
	}
	// A count that is no whole number from 0 to the values after it (a
	// peer's bug: its checksum holds) would panic in this goroutine.
	n := int(all[0])
	if n < 0 || float64(n) != all[0] || n > len(all)-1 {
		return fmt.Errorf("a squares message of %d values says it holds %v squares", len(all), all[0])
	}
	r.squares[s] = all[1 : 1+n]
	if s == len(r.ex.Stages)-1 {
		r.lossSums = all[1+n:]
	}
	r.published(s)
	return nil
}

// apply waits until every stage has published its squares, then steps st;
// the eager optimizer steps it without waiting.
func (r *run) apply(st *Stage) error {
	if r.ex.EagerOptimizer {
		r.applyEager(st)
		return nil
	}
	for _, ch := range r.squared {
		select {
		case <-ch:
		case <-r.abort:
			return errAborted
		}
	}
	norm := r.gradNorm()
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return r.nonFinite()
	}
	st.Stack.Step(r.in.AdamStep, r.in.Adam, r.clipScale(norm))
	return nil
}

// clipScale is the factor on every gradient that clips a finite global
// norm to MaxGradNorm: 1 when it needs no clipping.
func (r *run) clipScale(norm float64) float32 {
	if r.in.MaxGradNorm > 0 && norm > r.in.MaxGradNorm {
		return float32(r.in.MaxGradNorm / (norm + 1e-6))
	}
	return 1
}

// nonFinite names where a NaN or infinity shows first: the loss, or else the
// gradient nearest the loss (gradients flow backward, so the ones before it
// are usually its consequence). Every stage returns it before stepping (the
// eager optimizer undoes its steps first), so no parameter is touched.
func (r *run) nonFinite() error {
	last := len(r.ex.Stages) - 1
	for _, l := range r.lossSums {
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return &NumericError{Step: r.in.AdamStep, Stage: last, Device: r.ex.deviceName(last), Tensor: "the loss", Value: l, Clips: r.in.MaxGradNorm > 0}
		}
	}
	for s := last; s >= 0; s-- {
		sq := r.squares[s]
		for i := len(sq) - 1; i >= 0; i-- {
			if v := sq[i]; math.IsNaN(v) || math.IsInf(v, 0) {
				tensor := fmt.Sprintf("gradient %d of the stage (its rank names it)", i)
				if st := r.ex.Stages[s]; st != nil {
					tensor = "the gradient of " + st.Stack.GradNames()[i]
				}
				return &NumericError{Step: r.in.AdamStep, Stage: s, Device: r.ex.deviceName(s), Tensor: tensor, Value: v, Clips: r.in.MaxGradNorm > 0}
			}
		}
	}
	return &NumericError{Step: r.in.AdamStep, Stage: -1, Tensor: "the gradient norm", Value: r.gradNorm(), Clips: r.in.MaxGradNorm > 0}
}

// NumericError is a NaN or infinity found in a loss or a gradient. It is a
// field.Renderer: its advice names the fields lr and max-grad-norm.
type NumericError struct {
	Step, Stage    int // Stage -1: no one stage's (the global gradient norm)
	Device, Tensor string
	Value          float64
	Clips          bool // the run clips the gradient norm already (MaxGradNorm > 0)
}

func (e *NumericError) Error() string { return e.advice().Error() }

// Render words the message with each field named by name.
func (e *NumericError) Render(name func(field string) string) string { return e.advice().Render(name) }

func (e *NumericError) advice() *field.Error {
	where := ""
	if e.Stage >= 0 {
		where = fmt.Sprintf("stage %d (%s): ", e.Stage, e.Device)
	}
	return field.Errorf("lr", "step %d: %s%s is %v; no parameter was updated ("+divergedAdvice(e.Clips)+")", e.Step, where, e.Tensor, e.Value)
}

// divergedAdvice is what to change when training diverged, for a format
// string (it names fields): a lower rate, and clipping where the run does
// not clip yet.
func divergedAdvice(clips bool) string {
	if clips {
		return "lower {lr}"
	}
	return "lower {lr} or set {max-grad-norm}"
}

// gradNorm adds every stage's squares in model order, so any split gives
// the undivided model's norm bit for bit.
func (r *run) gradNorm() float64 {
	var sum float64
	for _, sq := range r.squares {
		for _, v := range sq {
			sum += v
		}
	}
	return math.Sqrt(sum)
}
