// A checkpoint of several processes, in two phases: every rank writes its own stages' tensors, and rank 0 commits them once all have.

package runtime

import (
	"fmt"

	"baton/model"
	"baton/runtime/dist"
)

// partWord is a rank's word to rank 0 on its part of a checkpoint: what
// it wrote, or why it could not.
type partWord struct {
	Part model.Part
	Err  string
}

// beginWord is rank 0's word to every rank that a checkpoint's directory
// is ready: the token the ranks' parts must find there, or why it is not.
type beginWord struct {
	Token, Err string
}

// saveGroup makes one checkpoint of every rank's stages (ck, this rank's
// tensors): rank 0 makes the checkpoint's new directory, every rank writes
// its own tensors into it as one shard of the model and one of the
// moments, and rank 0 commits them under an index once every rank has
// said it wrote its part whole, then tells every rank whether it did. A
// checkpoint is thus complete or absent: a rank that fails or dies first
// leaves the last one as it was. No rank's tensors pass through another
// (rank 0 would hold the whole model), so --out must be one directory
// every rank sees: on several hosts, a filesystem they share, which a
// resume needs anyway.
func (t *Trainer) saveGroup(step int, ck *model.Checkpoint) error {
	g := t.cfg.Group
	dir, rank, world := CheckpointDir(t.cfg.Out), g.Rank(), g.Mesh.World()
	tag := func(kind uint8) dist.Tag { return dist.Tag{Kind: kind, Step: int64(step)} }
	what := fmt.Sprintf("step %d's checkpoint", step)
	var begin beginWord
	if rank == 0 {
		err := t.sameOut()
		if err == nil {
			begin.Token, err = model.BeginParts(dir)
		}
		if err != nil {
			begin.Err = err.Error()
		}
		for r := 1; r < world; r++ {
			if serr := g.sendGob(r, tag(msgBegin), begin); serr != nil && err == nil {
				_ = model.AbortParts(dir) // the ranks told wait for a commit until the timeout
				return fmt.Errorf("%s: %w", what, serr)
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	} else {
		if err := g.receiveGob(0, tag(msgBegin), what, &begin); err != nil {
			return err
		}
		if begin.Err != "" {
			return fmt.Errorf("rank 0 did not save %s: %s", what, begin.Err)
		}
	}

	part, err := model.WritePart(dir, begin.Token, rank+1, world, ck.Config, rankShare(ck, ck.Params), rankShare(ck, ck.M), rankShare(ck, ck.V))
	err = t.saveError(step, err)
	part.Writer = fmt.Sprintf("rank %d", rank)
	if rank != 0 {
		word := partWord{Part: part}
		if err != nil {
			word.Err = err.Error()
		}
		if serr := g.sendGob(0, tag(msgPart), word); serr != nil {
			return fmt.Errorf("%s: %w", what, serr)
		}
		rerr := g.heardFromRank0(tag(msgCommit), what)
		if LostRank(rerr) { // rank 0 may have committed before it was lost, or not
			rerr = fmt.Errorf("%w; whether rank 0 committed the checkpoint before the run broke is unknown: a resume continues from the last complete one", rerr)
		}
		if err == nil {
			err = rerr
		}
		return err
	}
	parts := []model.Part{part}
	for r := 1; r < world; r++ {
		var word partWord
		if rerr := g.receiveGob(r, tag(msgPart), what, &word); rerr != nil {
			_ = model.AbortParts(dir) // the run stops: the rank is lost
			return rerr
		}
		if word.Err != "" && err == nil {
			err = fmt.Errorf("%s: rank %d could not write its part: %s", what, r, word.Err)
		}
		parts = append(parts, word.Part)
	}
	if err == nil {
		meta := *ck
		meta.Params, meta.M, meta.V = nil, nil, nil
		err = model.CommitParts(dir, &meta, parts)
	} else if aerr := model.AbortParts(dir); aerr != nil {
		err = fmt.Errorf("%w (and removing the parts written failed: %v)", err, aerr)
	}
	if serr := g.tellEveryRank(tag(msgCommit), err); err == nil && serr != nil {
		return fmt.Errorf("%s is saved, but telling the other ranks failed: %w", what, serr)
	}
	return err
}

// rankShare is what this rank writes of m, one of ck's maps of tensors:
// all of them but the tied LM head's wte, which the rank holding the
// embedding writes (it has wpe beside it).
func rankShare(ck *model.Checkpoint, m map[string][]float32) map[string][]float32 {
	if _, embedding := ck.Params["wpe.weight"]; embedding || m == nil {
		return m
	}
	out := make(map[string][]float32, len(m))
	for name, v := range m {
		if name != "wte.weight" {
			out[name] = v
		}
	}
	return out
}

// tellEveryRank sends rank 0's word on a step of a checkpoint to every
// other rank: empty for done, else what went wrong.
func (g *Group) tellEveryRank(tag dist.Tag, err error) error {
	var word []byte
	if err != nil {
		word = []byte(err.Error())
	}
	var first error
	for r := 1; r < g.Mesh.World(); r++ {
		if serr := g.send(r, tag, word); serr != nil && first == nil {
			first = serr // it names the rank
		}
	}
	return first
}

// heardFromRank0 waits for rank 0's word (tellEveryRank), and returns
// what went wrong there, if anything.
func (g *Group) heardFromRank0(tag dist.Tag, what string) error {
	word, err := g.receive(0, tag, what)
	if err != nil {
		return err
	}
	if len(word) > 0 {
		return fmt.Errorf("rank 0 did not save %s: %s", what, word)
	}
	return nil
}
