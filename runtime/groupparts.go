// A run of several processes at its end: every rank's measured steps sent to rank 0, which merges the report on its clock.

package runtime

import (
	"fmt"
	"time"

	"baton/runtime/dist"
	"baton/runtime/report"
)

// rankSteps is a rank's measured steps for the merged report: its devices'
// records, each step's origin on its clock, and its devices' peak memory.
type rankSteps struct {
	Origins []time.Time
	Records []map[int][]report.Record // per step: device → records
	Peaks   map[int]int64
	// Offset is the rank's clock minus rank 0's, measured again at the
	// run's end (clocks drift), and Uncertainty how far off it may be.
	Offset, Uncertainty time.Duration
}

// mergeSteps gives rank 0 every rank's records of the measured steps, on
// rank 0's clock (each rank's origin moved by its clock offset): the
// steps of the whole pipeline, as one process would have measured them;
// the other ranks send theirs, as message tag, and get nil. peaks gains
// the other ranks' devices' peak memory. purpose says what the steps are
// for in errors ("for the report").
func (t *Trainer) mergeSteps(measured []*StepResult, peaks map[int]int64, tag dist.Tag, purpose string) ([]*StepResult, error) {
	g := t.cfg.Group
	if g.Rank() != 0 {
		off, unc, err := g.Mesh.ClockOffset(0, clockSamples)
		if err != nil {
			return nil, fmt.Errorf("measuring the clock against rank 0 %s: %w", purpose, err)
		}
		// ClockOffset is rank 0's clock minus this one's.
		mine := rankSteps{Peaks: peaks, Offset: -off, Uncertainty: unc}
		for _, m := range measured {
			recs := map[int][]report.Record{}
			for d, r := range m.Records {
				if len(r) > 0 {
					recs[d] = r
				}
			}
			mine.Origins, mine.Records = append(mine.Origins, m.Origin), append(mine.Records, recs)
		}
		if err := g.sendGob(0, tag, mine); err != nil {
			return nil, fmt.Errorf("sending the measured steps %s: %w", purpose, err)
		}
		return nil, nil
	}
	for r := 1; r < g.Mesh.World(); r++ {
		var part rankSteps
		if err := g.receiveGob(r, tag, "the measured steps "+purpose, &part); err != nil {
			return nil, err
		}
		for d, p := range part.Peaks {
			peaks[d] = p
		}
		g.Offsets[r], g.Uncertainty = part.Offset, max(g.Uncertainty, part.Uncertainty)
		n := min(len(measured), len(part.Records))
		measured = measured[len(measured)-n:]
		part.Origins, part.Records = part.Origins[len(part.Origins)-n:], part.Records[len(part.Records)-n:]
		for i, m := range measured {
			// A time on rank r's clock is that time minus its offset on rank 0's.
			shift := part.Origins[i].Add(-g.Offsets[r]).Sub(m.Origin)
			for d, recs := range part.Records[i] {
				for j := range recs {
					recs[j].Start += shift
					recs[j].End += shift
					m.Time = max(m.Time, recs[j].End)
				}
				m.Records[d] = recs
			}
		}
	}
	return measured, nil
}
