// Live rebalancing in a run of several processes: rank 0 prices the window every rank's records make up, the moving blocks' state goes to its new rank, and every rank moves or none does.

package runtime

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"baton/model"
	"baton/runtime/dist"
)

// groupVerdict is rank 0's verdict on window, the same on every rank: the
// others send it their records of the window's steps and wait for it.
func (t *Trainer) groupVerdict(step int, window []*StepResult, need float64) (verdict, error) {
	g := t.cfg.Group
	what := fmt.Sprintf("for the rebalance check after step %d", step)
	merged, err := t.mergeSteps(window, map[int]int64{}, dist.Tag{Kind: msgWindow, Step: int64(step)}, what)
	if err != nil {
		return verdict{}, err
	}
	tag := dist.Tag{Kind: msgVerdict, Step: int64(step)}
	var v verdict
	if g.Rank() != 0 {
		err := g.receiveGob(0, tag, "rank 0's verdict "+what, &v)
		return v, err
	}
	v = t.price(step, merged, need)
	for r := 1; r < g.Mesh.World(); r++ {
		if err := g.sendGob(r, tag, v); err != nil {
			return verdict{}, fmt.Errorf("telling rank %d the verdict %s: %w", r, what, err)
		}
	}
	return v, nil
}

// resplitGroup is resplit across ranks. Every rank plans split alike and
// builds its new stages; each sends the blocks it holds and will not to
// the rank that will, and loads its new stages from what it kept (device
// to device) and what came; then all tell each other whether they hold
// their new stages, and switch only if all do (refused otherwise: the old
// split stays on every rank). Where the ranks' devices are linked (NCCL),
// the blocks go from GPU to GPU once every rank has said it built its new
// stages; otherwise through the mesh. err is a lost rank or link, after
// which the run cannot go on. via is "nccl" or "host" (Move.Via).
func (t *Trainer) resplitGroup(step int, split []int) (via string, refused, err error) {
	pl, refused := t.partition(split) // the same on every rank
	if refused != nil {
		return "", refused, nil
	}
	stages, local := t.newStagesFor(pl)
	if t.linked() {
		via = "nccl"
		if refused, err = t.agree(step, msgBuilt, local); refused != nil || err != nil {
			if refused != nil {
				refused = dropFailed(stages, refused)
			}
			return via, refused, err
		}
		landed, err := t.linkBlocks(step, pl, stages)
		if err != nil {
			return via, nil, err
		}
		local = guard(func() error { return carry(t.stages, stages, arrivals{landed: landed}) })
	} else {
		via = "host"
		arrived, unread, err := t.exchangeBlocks(step, pl)
		if err != nil {
			return via, nil, err
		}
		if local = cmp.Or(local, unread); local == nil {
			local = guard(func() error { return carry(t.stages, stages, arrivals{host: arrived, step: step}) })
		}
	}
	if refused, err = t.agree(step, msgMoved, local); refused != nil || err != nil {
		if refused != nil {
			refused = dropFailed(stages, refused)
		}
		return via, refused, err
	}
	old := t.stages
	t.restage(stages, pl)
	drop(old)
	return via, nil, nil
}

// tensors are parameters and their AdamW moments by GPT-2 name: the blocks
// one rank sends another in a move.
type tensors struct {
	Params, M, V map[string][]float32
}

// exchangeBlocks sends every block that leaves this rank under pl to its
// new rank, and returns the blocks that came. A tensor this rank cannot
// read back from its device (unread says why) is left out, so that the
// exchange still ends and the vote refuses the move.
func (t *Trainer) exchangeBlocks(step int, pl *model.Plan) (arrived *model.Checkpoint, unread, err error) {
	g := t.cfg.Group
	at, pairs := holders(t.stages), t.movePairs(pl)
	tag := dist.Tag{Kind: msgBlocks, Step: int64(step)}
	for r := range g.Mesh.World() {
		if r == g.Rank() {
			continue
		}
		part := tensors{Params: map[string][]float32{}, M: map[string][]float32{}, V: map[string][]float32{}}
		for _, p := range pairs {
			if g.Ranks[p.from] != g.Rank() || g.Ranks[p.to] != r {
				continue
			}
			for _, name := range p.names {
				h := at[name]
				s := h.st.Stack
				unread = cmp.Or(unread, guard(func() error {
					part.Params[name], part.M[name], part.V[name] = hostValues(s, s.P, h.i), hostValues(s, s.M, h.i), hostValues(s, s.V, h.i)
					return nil
				}))
			}
		}
		if err := g.sendGob(r, tag, part); err != nil {
			return nil, nil, fmt.Errorf("rebalance after step %d: sending rank %d its blocks: %w", step, r, err)
		}
	}
	arrived = &model.Checkpoint{Params: map[string][]float32{}, M: map[string][]float32{}, V: map[string][]float32{}}
	for r := range g.Mesh.World() {
		if r == g.Rank() {
			continue
		}
		var part tensors
		if err := g.receiveGob(r, tag, fmt.Sprintf("rebalance after step %d: the blocks from rank %d", step, r), &part); err != nil {
			return nil, nil, err
		}
		for name, p := range part.Params {
			arrived.Params[name], arrived.M[name], arrived.V[name] = p, part.M[name], part.V[name]
		}
	}
	return arrived, unread, nil
}

// blockDevices is, per block of the model, the schedule's device whose
// stage holds it under pl.
func (t *Trainer) blockDevices(pl *model.Plan) []int {
	devs := make([]int, t.cfg.Model.L)
	for _, st := range pl.Stages {
		for l := st.FirstLayer; l <= st.LastLayer; l++ {
			devs[l] = t.ex.Sched.DeviceOf(st.Index)
		}
	}
	return devs
}

// movePair is what one device of the schedule sends another, of another
// rank, under a new plan: the tensors of the blocks that go, in the order
// both ends post them.
type movePair struct {
	from, to int // the schedule's devices: the old stage's and the new stage's
	names    []string
}

// movePairs are the moves between ranks from the run's plan to pl, in one
// order that every rank computes alike: the order their links open in (or,
// through the host, the tensors each rank sends each other).
func (t *Trainer) movePairs(pl *model.Plan) []movePair {
	g := t.cfg.Group
	before, after := t.blockDevices(t.plan), t.blockDevices(pl)
	var pairs []movePair
	for l, from := range before {
		to := after[l]
		if g.Ranks[from] == g.Ranks[to] {
			continue
		}
		i := slices.IndexFunc(pairs, func(p movePair) bool { return p.from == from && p.to == to })
		if i < 0 {
			i = len(pairs)
			pairs = append(pairs, movePair{from: from, to: to})
		}
		for _, ts := range t.cfg.Model.BlockTensors(l) {
			pairs[i].names = append(pairs[i].names, ts.Name)
		}
	}
	return pairs
}

// agree tells every rank whether this one holds its new stages (local nil;
// built, for kind msgBuilt, or loaded, for msgMoved) and hears the same
// from each: refused names every rank that does not.
func (t *Trainer) agree(step int, kind uint8, local error) (refused, err error) {
	g := t.cfg.Group
	tag := dist.Tag{Kind: kind, Step: int64(step)}
	var word []byte
	if local != nil {
		word = []byte(local.Error())
	}
	words, err := g.exchange(tag, word, func(r int) string {
		return fmt.Sprintf("rebalance after step %d: the word between this rank and rank %d", step, r)
	})
	if err != nil {
		return nil, err
	}
	var why []string
	for r, msg := range words {
		if len(msg) > 0 {
			why = append(why, fmt.Sprintf("rank %d: %s", r, msg))
		}
	}
	if len(why) > 0 {
		return fmt.Errorf("%s", strings.Join(why, "; ")), nil
	}
	return nil, nil
}
