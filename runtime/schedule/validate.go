// Validate: the order and count rules every schedule obeys, checked action by action.

package schedule

import (
	"errors"
	"fmt"
)

// Validate checks that s is a well-formed step:
//
//   - sizes agree (stages = devices × chunks, one list per device), and every
//     action names a stage and micro-batch in range and sits on the device
//     that holds its stage;
//   - every stage runs F exactly once per micro-batch, and either B, or I then
//     W, exactly once per micro-batch, each after the F (B and I/W exclusive);
//   - every stage ends with exactly one STEP, after all its backwards;
//   - if s has any communication (it was lowered), each RECV is matched by
//     exactly one SEND of the neighbouring stage and vice versa (RECV_F of
//     stage s ↔ SEND_F of s−1, RECV_B of s ↔ SEND_B of s+1), receives come
//     before and sends after the compute that uses or produces their data,
//     and no stage boundary lacks one.
//
// It does not look for deadlocks across devices: Simulate does. The error
// names the device, the action's index in its list and the action, and
// wraps an *ActionError that holds them.
func Validate(s *Schedule) error {
	if err := validateShape(s); err != nil {
		return err
	}
	v := &validator{s: s, at: map[Action]int{}, lowered: hasComm(s)}
	for d, list := range s.Lists {
		firstStep := -1
		for i, a := range list {
			err := v.check(d, i, a)
			if err == nil && firstStep >= 0 && a.Kind != Step {
				// The executor runs a device's STEPs together, after
				// everything else on it (runtime's steps).
				err = earlier(firstStep, fmt.Errorf("%s follows a STEP of this device; a device's STEPs end its list: move them after its other actions", a))
			}
			if err != nil {
				ae := &ActionError{Device: d, Index: i, Action: a, Err: err}
				var ee *earlierError
				if errors.As(err, &ee) {
					ae.Err, ae.Earlier, ae.HasEarlier = ee.err, ee.at, true
				}
				return fmt.Errorf("schedule %s: %w", s.Name, ae)
			}
			v.at[a] = i
			if a.Kind == Step && firstStep < 0 {
				firstStep = i
			}
		}
	}
	if err := v.complete(); err != nil {
		return fmt.Errorf("schedule %s: %w", s.Name, err)
	}
	return nil
}

// ActionError is a fault Validate found at one place of a schedule: action
// Index (Action) of device Device's list or, with Index −1, the device's
// list as a whole (an action it lacks); with HasEarlier, Earlier is the
// index of the action of the same list it clashes with. Callers that show
// a schedule in other terms (ReadCSV: rows and columns of a file) read the
// places from it.
type ActionError struct {
	Device, Index int
	Action        Action
	Err           error
	Earlier       int
	HasEarlier    bool
}

func (e *ActionError) Error() string {
	switch {
	case e.Index < 0:
		return fmt.Sprintf("device %d: %v", e.Device, e.Err)
	case e.HasEarlier:
		return fmt.Sprintf("device %d, action %d (%s): %v (the other: action %d)", e.Device, e.Index, e.Action, e.Err, e.Earlier)
	}
	return fmt.Sprintf("device %d, action %d (%s): %v", e.Device, e.Index, e.Action, e.Err)
}

// earlierError is a check's fault that names an earlier action of the
// same list, at index at, which Validate places in its ActionError.
type earlierError struct {
	at  int
	err error
}

func (e *earlierError) Error() string { return e.err.Error() }

func earlier(at int, err error) error { return &earlierError{at: at, err: err} }

func (e *ActionError) Unwrap() error { return e.Err }

// validateShape checks the sizes before any action is looked at.
func validateShape(s *Schedule) error {
	switch {
	case s == nil:
		return fmt.Errorf("nil schedule; make one with Generate")
	case s.Devices < 1:
		return fmt.Errorf("schedule %s: %d devices; want at least 1", s.Name, s.Devices)
	case s.Chunks < 1:
		return fmt.Errorf("schedule %s: %d chunks; want at least 1 stage per device", s.Name, s.Chunks)
	case s.Microbatches < 1:
		return fmt.Errorf("schedule %s: %d micro-batches; want at least 1", s.Name, s.Microbatches)
	case s.Stages != s.Devices*s.Chunks:
		return fmt.Errorf("schedule %s: %d stages over %d devices with %d chunks each; want stages = devices × chunks = %d",
			s.Name, s.Stages, s.Devices, s.Chunks, s.Devices*s.Chunks)
	case len(s.Lists) != s.Devices:
		return fmt.Errorf("schedule %s: %d action lists for %d devices; want one list per device", s.Name, len(s.Lists), s.Devices)
	}
	return nil
}

// validator remembers where each action was seen. Every action of a stage is
// on one device (checked first), so "seen" means "earlier in that list".
type validator struct {
	s       *Schedule
	at      map[Action]int // index in its device's list
	lowered bool
}

func (v *validator) seen(st int, k Kind, mb int) bool {
	_, ok := v.at[Action{Stage: st, Kind: k, Microbatch: mb}]
	return ok
}

// check applies the rules that depend only on what came before a.
func (v *validator) check(d, i int, a Action) error {
	s, st, mb := v.s, a.Stage, a.Microbatch
	last := s.Stages - 1
	switch {
	case a.Kind >= NumKinds:
		return fmt.Errorf("unknown action kind %d", a.Kind)
	case st < 0 || st > last:
		return fmt.Errorf("stage %d out of range; the schedule has stages 0..%d", st, last)
	case a.Kind == Step && mb != -1:
		return fmt.Errorf("STEP has micro-batch %d; set it to -1 (a STEP covers the whole batch)", mb)
	case a.Kind != Step && (mb < 0 || mb >= s.Microbatches):
		return fmt.Errorf("micro-batch %d out of range; the schedule has micro-batches 0..%d", mb, s.Microbatches-1)
	case s.DeviceOf(st) != d:
		return fmt.Errorf("stage %d lives on device %d (stage mod devices), not device %d", st, s.DeviceOf(st), d)
	}
	if k, ok := v.at[Action{Stage: st, Kind: Step, Microbatch: -1}]; ok {
		return earlier(k, fmt.Errorf("stage %d already ran its STEP; STEP must be the stage's last action", st))
	}
	if k, ok := v.at[a]; ok {
		return earlier(k, fmt.Errorf("micro-batch %d already has a %s on stage %d; each runs once per micro-batch", mb, describe(a.Kind), st))
	}
	switch a.Kind {
	case F:
		if v.lowered && st > 0 && !v.seen(st, RecvF, mb) {
			return fmt.Errorf("no %dRECV_F%d before the forward; a lowered schedule receives every activation (give every send and receive, or none for baton to add them)", st, mb)
		}
	case B, I, W:
		return v.checkBackward(a)
	case SendF:
		if st == last {
			return fmt.Errorf("the last stage has no next stage to send an activation to")
		}
		if !v.seen(st, F, mb) {
			return fmt.Errorf("sends micro-batch %d's activation before its forward", mb)
		}
	case RecvF:
		if st == 0 {
			return fmt.Errorf("stage 0 has no previous stage to receive an activation from")
		}
	case SendB:
		if st == 0 {
			return fmt.Errorf("stage 0 has no previous stage to send a gradient to")
		}
		if !v.seen(st, B, mb) && !v.seen(st, I, mb) {
			return fmt.Errorf("sends micro-batch %d's input gradient before its backward (B or I)", mb)
		}
	case RecvB:
		if st == last {
			return fmt.Errorf("the last stage has no next stage to receive a gradient from")
		}
	case Step:
		for j := range s.Microbatches {
			if v.seen(st, I, j) && !v.seen(st, W, j) {
				return fmt.Errorf("micro-batch %d has an I but no W before the STEP; STEP must follow all of the stage's backwards", j)
			}
			if !v.seen(st, B, j) && !v.seen(st, W, j) {
				return fmt.Errorf("micro-batch %d has no backward before the STEP; STEP must follow all of the stage's backwards", j)
			}
		}
	}
	return nil
}

// checkBackward applies the order rules of B, I and W.
func (v *validator) checkBackward(a Action) error {
	st, mb := a.Stage, a.Microbatch
	if a.Kind == B && (v.seen(st, I, mb) || v.seen(st, W, mb)) || a.Kind != B && v.seen(st, B, mb) {
		return fmt.Errorf("micro-batch %d mixes B with I/W; its backward is either one B or an I then a W", mb)
	}
	switch {
	case a.Kind == W && !v.seen(st, I, mb):
		return fmt.Errorf("micro-batch %d has no I before its W; the weight gradient comes after the input gradient", mb)
	case a.Kind == B && !v.seen(st, F, mb):
		return fmt.Errorf("micro-batch %d has no forward before its backward", mb)
	case a.Kind == I && !v.seen(st, F, mb):
		return fmt.Errorf("micro-batch %d has no forward before its input-gradient backward (I)", mb)
	case a.Kind != W && v.lowered && st < v.s.Stages-1 && !v.seen(st, RecvB, mb):
		return fmt.Errorf("no %dRECV_B%d before the backward; a lowered schedule receives every output gradient (give every send and receive, or none for baton to add them)", st, mb)
	}
	return nil
}

// describe names what an action of kind k does, for messages.
func describe(k Kind) string {
	switch k {
	case F:
		return "forward"
	case B:
		return "backward"
	case I:
		return "input-gradient backward (I)"
	case W:
		return "weight-gradient backward (W)"
	case SendF, RecvF, SendB, RecvB:
		return k.String()
	}
	return "STEP"
}

// hasComm says whether any action of s moves data, that is, s was lowered.
func hasComm(s *Schedule) bool {
	for _, l := range s.Lists {
		for _, a := range l {
			if isComm(a.Kind) {
				return true
			}
		}
	}
	return false
}
