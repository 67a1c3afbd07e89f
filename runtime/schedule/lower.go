// Lowering: the pass that adds the sends and receives between neighbouring stages around compute actions.

package schedule

import "slices"

// Lower returns a copy of s with communication around every compute action:
//
//	RECV_F before each F of a stage that has a previous stage, SEND_F after
//	each F of a stage that has a next one; RECV_B before each B (or I) of a
//	stage that has a next stage, SEND_B after each B (or I) of a stage that
//	has a previous one. W moves no data.
//
// Sends never block (they copy into the receiver and publish an event), so
// placing each send right after the action that produced its data and each
// receive right before the action that needs it adds no waiting of its own:
// the lowered schedule deadlocks only if the compute order already does.
// Neighbours are stages s and s+1, wherever they sit: with chunks, stage
// p−1 on the last device sends to stage p on device 0, and with one device
// every send and its receive are on the same list, the send first; a send is
// a send even then, so the executor has one path between stages.
// A schedule that already has communication is lowered: Lower returns a
// copy of it as it is, so that a lowered schedule file keeps its own
// placement of sends and receives (Validate checks it), and Lower is
// idempotent. s is not modified.
func Lower(s *Schedule) *Schedule {
	out := s.withLists()
	if hasComm(s) {
		for d, l := range s.Lists {
			out.Lists[d] = slices.Clone(l)
		}
		return out
	}
	last := s.Stages - 1
	for d, list := range s.Lists {
		l := make([]Action, 0, 2*len(list))
		for _, a := range list {
			st, mb := a.Stage, a.Microbatch
			switch a.Kind {
			case F:
				if st > 0 {
					l = append(l, Action{Stage: st, Kind: RecvF, Microbatch: mb})
				}
				l = append(l, a)
				if st < last {
					l = append(l, Action{Stage: st, Kind: SendF, Microbatch: mb})
				}
			case B, I:
				if st < last {
					l = append(l, Action{Stage: st, Kind: RecvB, Microbatch: mb})
				}
				l = append(l, a)
				if st > 0 {
					l = append(l, Action{Stage: st, Kind: SendB, Microbatch: mb})
				}
			default:
				l = append(l, a)
			}
		}
		out.Lists[d] = l
	}
	return out
}

// isComm says whether k moves data between stages.
func isComm(k Kind) bool { return k == SendF || k == RecvF || k == SendB || k == RecvB }
