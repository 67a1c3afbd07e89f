// Pipeline phases of a device: warm-up (before its first backward), steady (until its last forward ends), cool-down.

package report

import (
	"time"

	"baton/runtime/schedule"
)

// Phases is a device's time in the three phases of a pipelined step.
type Phases struct {
	Warmup   Split `json:"warmup"`   // the step's start to the device's first backward (B or I)
	Steady   Split `json:"steady"`   // from there to the end of its last forward
	Cooldown Split `json:"cooldown"` // from there to the end of the pipeline span
}

// phaseBounds says where a device's warm-up ends and its cool-down starts,
// both within [0, span]. A schedule whose forwards all come before its
// backwards (GPipe, naive) has no steady phase: the two bounds meet at the
// first backward. A device with no backward (evaluation) is all warm-up.
func phaseBounds(recs []Record, span time.Duration) (steady, cool time.Duration) {
	steady = span
	var lastF time.Duration
	for _, r := range recs {
		switch r.Action.Kind {
		case schedule.B, schedule.I:
			steady = min(steady, r.Start)
		case schedule.F:
			lastF = max(lastF, r.End)
		}
	}
	steady = max(steady, 0)
	return steady, min(max(lastF, steady), span)
}

// add accumulates one step of one device, weighted.
func (ph *Phases) add(segs []segment, recs []Record, span time.Duration, weight float64) {
	steady, cool := phaseBounds(recs, span)
	ph.Warmup.add(segs, 0, steady, weight)
	ph.Steady.add(segs, steady, cool, weight)
	ph.Cooldown.add(segs, cool, span, weight)
}
