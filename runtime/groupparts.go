// A run of several processes at its checkpoints and its end: every rank's part sent to rank 0, which saves the whole checkpoint and merges the report.

package runtime

import (
	"fmt"
	"time"

	"baton/model"
	"baton/runtime/dist"
	"baton/runtime/report"
)

// tensors is a rank's part of a checkpoint: its stages' parameters and moments by name.
type tensors struct {
	Params, M, V map[string][]float32
}

// saveGroup makes one checkpoint of every rank's stages: each rank sends
// its tensors to rank 0, which saves them all with save once every part
// has come, then tells every rank whether it did. A checkpoint is thus
// complete or absent: a rank that dies first leaves the last one as it was.
func (t *Trainer) saveGroup(step int, ck *model.Checkpoint, save func(*model.Checkpoint) error) error {
	g := t.cfg.Group
	parts, commit := dist.Tag{Kind: msgTensors, Step: int64(step)}, dist.Tag{Kind: msgCommit, Step: int64(step)}
	what := fmt.Sprintf("step %d's checkpoint", step)
	if g.Rank() != 0 {
		if err := g.sendGob(0, parts, tensors{ck.Params, ck.M, ck.V}); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		word, err := g.receive(0, commit, what)
		if err != nil {
			return err
		}
		if len(word) > 0 {
			return fmt.Errorf("rank 0 did not save %s: %s", what, word)
		}
		return nil
	}
	for r := 1; r < g.Mesh.World(); r++ {
		var part tensors
		if err := g.receiveGob(r, parts, what, &part); err != nil {
			return err
		}
		for name, v := range part.Params { // the tied wte is in two ranks' parts, the same
			if _, ok := ck.Params[name]; !ok {
				ck.Params[name], ck.M[name], ck.V[name] = v, part.M[name], part.V[name]
			}
		}
	}
	err := save(ck)
	var word []byte
	if err != nil {
		word = []byte(err.Error())
	}
	for r := 1; r < g.Mesh.World(); r++ {
		if serr := g.send(r, commit, word); serr != nil && err == nil {
			err = fmt.Errorf("%s is saved, but telling rank %d failed: %w", what, r, serr)
		}
	}
	return err
}

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
