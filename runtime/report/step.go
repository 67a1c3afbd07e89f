// Package report turns timed steps into what a person reads: the idle
// report (compute, waits by neighbour, copies, optimizer, gaps; by phase;
// the critical path), the Chrome/Perfetto trace, the SVG timeline, and the
// what-if replay of measured costs under another schedule or split.
//
// Main types: Record and Step (timed actions, measured or simulated, on one
// time base), Report (the idle report), DeviceStats, Split, Phases,
// PathReport, StageCost, Replay and Prediction.
package report

import (
	"time"

	"baton/runtime/schedule"
)

// Record is one action's place on its device's timeline. Times are from
// the step's origin, which every device of the step shares.
type Record struct {
	Action     schedule.Action
	Start, End time.Duration
	Wait       time.Duration // receives: how long the device waited on its neighbour, from Start
	Units      []UnitTime    // compute actions of a step that timed layers: each unit's time, in the order run
}

// copyStart is where a receive's wait ends and its copy begins: the
// executor times the wait from the receive's start (Wait is 0 elsewhere).
func (r Record) copyStart() time.Duration { return min(r.Start+max(r.Wait, 0), r.End) }

// UnitTime is how long one unit of a compute action took: the embedding,
// a block or the head (model.Config.UnitName).
type UnitTime struct {
	Unit int
	Time time.Duration
}

// Step is one step's records, per device in list order, and its span.
type Step struct {
	Records [][]Record
	Time    time.Duration // origin to the last action's end
	// Number is the run's step number, as metrics.jsonl counts from 1, so
	// that the trace of a run's last steps names them as its log does.
	Number int
}

// extent is where s's records begin and end: from the origin (or before
// it, where another rank's device, moved onto rank 0's clock, began
// waiting earlier) to its Time (or past it, where a record ends later).
func (s *Step) extent() (from, end time.Duration) {
	end = s.Time
	for _, recs := range s.Records {
		for _, r := range recs {
			from, end = min(from, r.Start), max(end, r.End)
		}
	}
	return from, end
}

// DeviceInfo is what the report says about a device besides its times.
type DeviceInfo struct {
	Name      string
	Layers    string // the layers of its stages, "0-3,8-11"
	PeakBytes int64
}
