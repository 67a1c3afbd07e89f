// Moving a run to another split between two steps: new stages built beside the old, every parameter and AdamW moment carried to them by name, device to device, and the executor remade over them.

package runtime

import (
	"errors"
	"fmt"

	"baton/model"
	"baton/runtime/device"
	"baton/transformer"
)

// resplit rebuilds the stages on split, on the same devices, carrying
// every parameter and AdamW moment by name from the old stages, device to
// device. The old stages stay in place until the new ones hold everything,
// so an error leaves the run as it was. Gradients are zero between steps,
// and the schedule is unchanged: the run goes on exactly as one that had
// used split from this step on. The stages left behind hand back their
// memory.
func (t *Trainer) resplit(split []int) error {
	pl, err := t.partition(split)
	if err != nil {
		return err
	}
	stages, err := t.newStagesFor(pl)
	if err != nil {
		return err
	}
	if err := guard(func() error { return carry(t.stages, stages, arrivals{}) }); err != nil {
		return dropFailed(stages, err)
	}
	old := t.stages
	t.restage(stages, pl)
	drop(old)
	return nil
}

// drop hands back what stages no longer run hold on their devices (the old
// ones after a move): their memory, once the devices are done with it, and
// their graphs. A device's failure panics, as its Ops do.
func drop(stages []*Stage) {
	for _, st := range stages {
		if st == nil {
			continue
		}
		for _, e := range st.graphs.entries {
			if e.g != nil {
				e.g.Close()
			}
		}
		st.mem.Free()
	}
}

// dropFailed drops the new stages of a move that failed for why, where a
// device may be what failed: its error joins why.
func dropFailed(stages []*Stage, why error) error {
	return errors.Join(why, guard(func() error { drop(stages); return nil }))
}

// holder is where a tensor is: a stage's stack and its index there.
type holder struct {
	st *Stage
	i  int
}

// holders indexes the tensors of stages (this process's) by name; the
// tied wte by its first stage.
func holders(stages []*Stage) map[string]holder {
	at := map[string]holder{}
	for _, st := range stages {
		if st == nil {
			continue
		}
		for i, ts := range st.Stack.P.Specs {
			if _, ok := at[ts.Name]; !ok {
				at[ts.Name] = holder{st, i}
			}
		}
	}
	return at
}

// arrivals are the tensors another rank sent this one in a move: on the
// host (through the mesh), which carry writes as AdamW's step left them,
// or landed on their new devices already (over links).
type arrivals struct {
	host   *model.Checkpoint
	step   int
	landed map[string]bool
}

// carry fills the parameters and AdamW moments of stages (this process's)
// by name: from the old stage that holds each, device to device (a copy
// within a device, a peer or staged copy between two: float32 masters too
// under bf16), else from what arrived from another rank. Every device has
// finished the copies when it returns; a device's failure panics, as its
// Ops do.
func carry(old, stages []*Stage, in arrivals) error {
	at := holders(old)
	drain := map[device.Device]bool{}
	for _, st := range stages {
		if st == nil {
			continue
		}
		to := st.Stack
		for i, ts := range to.P.Specs {
			h, ok := at[ts.Name]
			if in.landed[ts.Name] {
				continue
			}
			if !ok {
				if in.host == nil || in.host.Params[ts.Name] == nil {
					return fmt.Errorf("no stage holds %s", ts.Name)
				}
				writeTensor(to, i, in.host, in.step)
				continue
			}
			from := h.st.Stack
			for _, p := range [][2]*transformer.Params{{to.P, from.P}, {to.M, from.M}, {to.V, from.V}} {
				if h.st.Device == st.Device {
					st.Device.Ops().Copy(p[0].T[i], p[1].T[h.i])
				} else {
					h.st.Device.CopyTo(st.Device, p[0].T[i], p[1].T[h.i])
				}
			}
			drain[h.st.Device], drain[st.Device] = true, true
		}
	}
	for d := range drain {
		d.Sync()
	}
	return nil
}

// partition is the plan of split over the run's devices, the same on
// every rank.
func (t *Trainer) partition(split []int) (*model.Plan, error) {
	return partitionAt(t.cfg, t.ex.Sched, split)
}

// newStagesFor builds this process's stages of pl, zeroed, once its
// devices' memory is known to hold them.
func (t *Trainer) newStagesFor(pl *model.Plan) ([]*Stage, error) {
	cfg := t.cfg
	if err := checkFits(cfg.Devices, cfg.Group.own(pl), cfg.Precision.String(), 0); err != nil { // the process holds the rest already
		return nil, err
	}
	var stages []*Stage
	err := guard(func() error {
		var err error
		stages, err = newStages(t.ex.Devices, pl, cfg.Batch/t.ex.Sched.Microbatches, cfg.Context, t.cfg.vocab, t.kprof.opsOf)
		return err
	})
	return stages, err
}

// restage makes stages, holding pl, the run's: a new executor over them
// with the old one's settings, links and message count.
func (t *Trainer) restage(stages []*Stage, pl *model.Plan) {
	old := t.ex
	t.stages, t.plan = stages, pl
	t.ex = &Executor{Sched: old.Sched, Stages: stages, Devices: old.Devices, Timeout: old.Timeout, EagerOptimizer: old.EagerOptimizer,
		CUDAGraphs: old.CUDAGraphs, Group: old.Group, links: old.links, seq: old.seq}
}
