// Micro-batches in flight per stage: how many activation stashes a schedule makes each stage hold at once.

package schedule

import "slices"

// PeakInFlight is, per stage, the largest number of micro-batches whose
// forward has run and whose backward has not finished (B, or W when the
// backward is split into I and W), following the lists in order. It bounds
// the activations a stage stashes: m for gpipe, min(p−s, m) for 1f1b,
// min(p, m) for zb-h1, min(2p−1, m) for zb-h2. It is per stage, not per device: with
// chunks a device stashes at most the sum over its stages, each 1/v of its
// layers.
// Actions of stages out of range are ignored (Validate reports them).
func (s *Schedule) PeakInFlight() []int {
	now := make([]int, s.Stages)
	peak := make([]int, s.Stages)
	for _, list := range s.Lists {
		for _, a := range list {
			if a.Stage < 0 || a.Stage >= s.Stages {
				continue
			}
			switch a.Kind {
			case F:
				now[a.Stage]++
				peak[a.Stage] = max(peak[a.Stage], now[a.Stage])
			case B, W:
				now[a.Stage]--
			}
		}
	}
	return peak
}

// StashBound is, per stage, the most micro-batch stashes the executor can
// make the stage hold at once when it runs lists, whatever the timing of the
// devices. A stage's stash for a micro-batch is taken by the previous
// stage's SEND_F (on the sender's goroutine) and handed back by the stage's
// own release (StashRules.Releases). At a
// send, a release counts only if it happens before the send, through the
// device's own list and the events that sends post to receives: vector
// clocks over the lists. Stage 0 takes its stashes on its own goroutine and
// gets 0: it needs no bound.
func StashBound(lists [][]Action, stages int) []int {
	nd := len(lists)
	owner := make([]int, stages)
	for d, l := range lists {
		for _, a := range l {
			if a.Stage >= 0 && a.Stage < stages {
				owner[a.Stage] = d
			}
		}
	}
	rules := NewStashRules(lists, stages)
	releases := rules.Releases
	// released[s][k]: releases of stage s among the first k actions of its device.
	released := make([][]int, stages)
	for s := range stages {
		l := lists[owner[s]]
		released[s] = make([]int, len(l)+1)
		for k, a := range l {
			released[s][k+1] = released[s][k]
			if a.Stage == s && releases(a) {
				released[s][k+1]++
			}
		}
	}
	pos, vc := make([]int, nd), make([][]int, nd)
	for d := range vc {
		vc[d] = make([]int, nd)
	}
	sent := map[Action][]int{} // per receive: the sender's clock when it posted the receive's event
	taken, bound := make([]int, stages), make([]int, stages)
	for progressed := true; progressed; {
		progressed = false
		for d, l := range lists {
			for pos[d] < len(l) {
				a := l[pos[d]]
				if a.Kind == RecvF || a.Kind == RecvB {
					clock, ok := sent[a]
					if !ok {
						break // not sent yet: another device first
					}
					for i, c := range clock {
						vc[d][i] = max(vc[d][i], c)
					}
				}
				pos[d]++
				vc[d][d] = pos[d]
				switch {
				case a.Kind == SendF && a.Stage+1 < stages:
					s := a.Stage + 1
					taken[s]++
					bound[s] = max(bound[s], taken[s]-released[s][vc[d][owner[s]]])
					sent[Action{Stage: s, Kind: RecvF, Microbatch: a.Microbatch}] = slices.Clone(vc[d])
				case a.Kind == SendB && a.Stage > 0:
					sent[Action{Stage: a.Stage - 1, Kind: RecvB, Microbatch: a.Microbatch}] = slices.Clone(vc[d])
				}
				progressed = true
			}
		}
	}
	return bound
}

// Stashes is, per stage, the micro-batch stashes a run of s allocates: on
// the first stage the peak in flight (it takes its own), after it the bound
// the executor reserves (StashBound), which is at least the peak. A memory
// estimate counts them stage by stage (model.PlanOptions.Stashes).
func (s *Schedule) Stashes() []int {
	out := StashBound(Lower(s).Lists, s.Stages)
	if len(out) > 0 {
		out[0] = max(out[0], s.PeakInFlight()[0])
	}
	return out
}

// SplitsBackward reports whether any backward is split into I and W (a
// zero-bubble schedule's, or a file's that does): a stash then keeps its
// blocks' weight gradients' inputs from I to W.
func (s *Schedule) SplitsBackward() bool {
	for _, l := range s.Lists {
		for _, a := range l {
			if a.Kind == I {
				return true
			}
		}
	}
	return false
}

// StashRules say when a stage hands back the stash of a micro-batch: the
// one rule that the executor follows and StashBound counts on.
type StashRules struct {
	stages     int
	evaluating bool            // no backward runs: lists are an evaluation
	split      map[[2]int]bool // (stage, micro-batch) whose backward is split into I and W
}

// NewStashRules reads from lists (one step's, lowered) whether they
// evaluate and which backwards they split.
func NewStashRules(lists [][]Action, stages int) StashRules {
	r := StashRules{stages: stages, evaluating: true, split: map[[2]int]bool{}}
	for _, l := range lists {
		for _, a := range l {
			switch a.Kind {
			case B, I:
				r.evaluating = false
			case W:
				r.evaluating = false
				r.split[[2]int{a.Stage, a.Microbatch}] = true
			}
		}
	}
	return r
}

// Releases says whether a, once done, hands back its stage's stash of its
// micro-batch: in training after the backward's input gradient is sent (its
// SEND_B, or B on stage 0), or after W when the backward is split; in
// evaluation after the output is sent (SEND_F, or F on the last stage). A
// send releases before it posts its event, so whoever the event reaches
// also sees the stash free.
func (r StashRules) Releases(a Action) bool {
	switch a.Kind {
	case F:
		return r.evaluating && a.Stage == r.stages-1
	case B:
		return a.Stage == 0
	case W:
		return true
	case SendF:
		return r.evaluating
	case SendB:
		return !r.split[[2]int{a.Stage, a.Microbatch}]
	}
	return false
}
