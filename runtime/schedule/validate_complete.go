// Validate's last pass: what must exist somewhere (matching sends and receives, every micro-batch, a STEP).

package schedule

import "fmt"

// partner is the action at the other end of a send or receive: RECV_F of
// stage s pairs with SEND_F of s−1, RECV_B of s with SEND_B of s+1.
func partner(a Action) Action {
	switch a.Kind {
	case RecvF:
		return Action{Stage: a.Stage - 1, Kind: SendF, Microbatch: a.Microbatch}
	case SendF:
		return Action{Stage: a.Stage + 1, Kind: RecvF, Microbatch: a.Microbatch}
	case RecvB:
		return Action{Stage: a.Stage + 1, Kind: SendB, Microbatch: a.Microbatch}
	case SendB:
		return Action{Stage: a.Stage - 1, Kind: RecvB, Microbatch: a.Microbatch}
	}
	panic(fmt.Sprintf("partner of %s: not a send or receive", a))
}

// complete runs after every action was seen by check.
func (v *validator) complete() error {
	s := v.s
	// Duplicates were rejected by check, so a partner found is the only one.
	// No send needs checking for absence: in a lowered schedule every
	// forward and backward that needs data receives it first (check), every
	// receive has its send (here) and every forward and backward runs (below),
	// so every send a neighbour needs exists.
	for d, list := range s.Lists {
		for i, a := range list {
			if !isComm(a.Kind) {
				continue
			}
			if q := partner(a); !v.seen(q.Stage, q.Kind, q.Microbatch) {
				why := "nobody receives what it sends"
				if a.Kind == RecvF || a.Kind == RecvB {
					why = "the receive would wait forever"
				}
				return &ActionError{Device: d, Index: i, Action: a,
					Err: fmt.Errorf("no matching %s on device %d; %s", q, s.DeviceOf(q.Stage), why)}
			}
		}
	}
	for st := range s.Stages {
		d := s.DeviceOf(st)
		lacks := func(format string, args ...any) error {
			return &ActionError{Device: d, Index: -1, Err: fmt.Errorf(format, args...)}
		}
		for mb := range s.Microbatches {
			if !v.seen(st, F, mb) {
				return lacks("stage %d never runs the forward of micro-batch %d (%dF%d)", st, mb, st, mb)
			}
			iAct := Action{Stage: st, Kind: I, Microbatch: mb}
			if i, ok := v.at[iAct]; ok && !v.seen(st, W, mb) {
				return &ActionError{Device: d, Index: i, Action: iAct, Err: fmt.Errorf("micro-batch %d has no W after its I", mb)}
			}
			if !v.seen(st, B, mb) && !v.seen(st, I, mb) {
				return lacks("stage %d never runs the backward of micro-batch %d (%dB%d, or %dI%d then %dW%d)", st, mb, st, mb, st, mb, st, mb)
			}
		}
		if !v.seen(st, Step, -1) {
			return lacks("stage %d has no STEP; end its actions with %dSTEP", st, st)
		}
	}
	return nil
}
