// Idle by cause: a device's timeline cut into compute, waits on each neighbour, copies, optimizer and uncovered gaps.

package report

import (
	"cmp"
	"slices"
	"time"

	"baton/runtime/schedule"
)

// cause is what a device was doing during one stretch of its timeline.
type cause uint8

const (
	causeCompute   cause = iota // F, B, I, W
	causeWaitPrev               // the waiting part of a RECV_F
	causeWaitNext               // the waiting part of a RECV_B
	causeSend                   // SEND_F, SEND_B
	causeRecvCopy               // the part of a receive after its wait: the copy landing
	causeOptimizer              // STEP
	causeGap                    // covered by no action: host and launch overhead, scheduling jitter
)

// segment is one stretch of a device's timeline and its cause.
type segment struct {
	cause      cause
	start, end time.Duration
}

// deviceSegments tiles [0, span) of one device's timeline: each record's
// stretch clipped to the span (a receive in two, its wait then its copy), and
// a gap segment wherever no record is. The gaps are found, not inferred as
// what is left over, so that the causes adding up to the idle time is a
// check and not a tautology. The records may hold several stages' actions
// (interleaved schedules): only their times matter.
func deviceSegments(recs []Record, span time.Duration) []segment {
	sorted := slices.Clone(recs)
	slices.SortStableFunc(sorted, func(a, b Record) int { return cmp.Compare(a.Start, b.Start) })
	var segs []segment
	add := func(c cause, start, end time.Duration) {
		start, end = max(start, 0), min(end, span)
		if end > start {
			segs = append(segs, segment{c, start, end})
		}
	}
	var at time.Duration // where the covered part of the timeline ends so far
	for _, r := range sorted {
		if r.Start > at {
			add(causeGap, at, r.Start)
		}
		switch k := r.Action.Kind; {
		case k.IsCompute():
			add(causeCompute, r.Start, r.End)
		case k == schedule.RecvF || k == schedule.RecvB:
			copyStart := r.copyStart()
			c := causeWaitNext
			if k == schedule.RecvF {
				c = causeWaitPrev
			}
			add(c, r.Start, copyStart)
			add(causeRecvCopy, copyStart, r.End)
		case k == schedule.SendF || k == schedule.SendB:
			add(causeSend, r.Start, r.End)
		case k == schedule.Step:
			add(causeOptimizer, r.Start, r.End)
		}
		at = max(at, r.End)
	}
	add(causeGap, at, span)
	return segs
}

// Split is one stretch of a device's time divided by what the device did,
// mean seconds per step. DurationS = ComputeS + IdleS, and IdleS is the sum
// of the six causes after it.
type Split struct {
	DurationS  float64 `json:"duration_s"`
	ComputeS   float64 `json:"compute_s"`   // forward and backward kernels
	IdleS      float64 `json:"idle_s"`      // DurationS − ComputeS
	WaitPrevS  float64 `json:"wait_prev_s"` // receives of activations, waiting on the stage before
	WaitNextS  float64 `json:"wait_next_s"` // receives of gradients, waiting on the stage after
	TransferS  float64 `json:"transfer_s"`  // sends: copies into the neighbour's memory
	RecvCopyS  float64 `json:"recv_copy_s"` // receives after their wait: the copy landing
	OptimizerS float64 `json:"optimizer_s"` // the optimizer step, entered while other devices still compute
	GapS       float64 `json:"gap_s"`       // covered by no action: host and launch overhead, jitter
}

// add accumulates the part of segs inside [from, to), weighted (1/steps
// when averaging).
func (sp *Split) add(segs []segment, from, to time.Duration, weight float64) {
	if to <= from {
		return
	}
	var compute time.Duration
	for _, s := range segs {
		d := min(s.end, to) - max(s.start, from)
		if d <= 0 {
			continue
		}
		sec := d.Seconds() * weight
		switch s.cause {
		case causeCompute:
			compute += d
			sp.ComputeS += sec
		case causeWaitPrev:
			sp.WaitPrevS += sec
		case causeWaitNext:
			sp.WaitNextS += sec
		case causeSend:
			sp.TransferS += sec
		case causeRecvCopy:
			sp.RecvCopyS += sec
		case causeOptimizer:
			sp.OptimizerS += sec
		case causeGap:
			sp.GapS += sec
		}
	}
	sp.DurationS += (to - from).Seconds() * weight
	sp.IdleS += (to - from - compute).Seconds() * weight
}

// CausesS is the sum of the idle causes, which equals IdleS up to rounding.
func (sp Split) CausesS() float64 {
	return sp.WaitPrevS + sp.WaitNextS + sp.TransferS + sp.RecvCopyS + sp.OptimizerS + sp.GapS
}
