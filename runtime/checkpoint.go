// Checkpoints of a pipeline: tensors gathered from every stage by name, and scattered back on any layout.

package runtime

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"baton/internal/field"
	"baton/kernels"
	"baton/model"
	"baton/transformer"
)

// TrainState is what a checkpoint needs beyond tensors to resume exactly.
// Batches are a pure function of (Seed, step), so Step is the data position.
type TrainState struct {
	Step   int    `json:"step"`
	Seed   uint64 `json:"seed"`
	Preset string `json:"preset"`
	// Split is the stages' split a balancing run (--balance measured,
	// --rebalance auto) was on, where a resumed one on the same devices
	// (SplitDevices; as many, where a checkpoint does not say) starts.
	Split        []int    `json:"split,omitempty"`
	SplitDevices []string `json:"split_devices,omitempty"`
	// BalanceChecked: --balance measured has made its one check (and
	// moved, or found the split balanced), which a resume does not repeat.
	BalanceChecked bool `json:"balance_checked,omitempty"`
	// Losses are every step's loss from LossesFirstStep to Step: the
	// summary that also holds them is written only when a run ends, and
	// metrics.jsonl has every --log-every-th step, so a resume after a
	// crash takes them from here.
	Losses          []float64 `json:"losses,omitempty"`
	LossesFirstStep int       `json:"losses_first_step,omitempty"`
	// Rebalances are the run's re-splits up to Step, kept for the same reason.
	Rebalances []Move `json:"rebalances,omitempty"`
	// EvalPending: a signal stopped the evaluation due at Step, and the
	// checkpoint was saved without it; a resume evaluates first.
	EvalPending bool `json:"eval_pending,omitempty"`
}

// resumeState reads a checkpoint's training state for a resumed run; dir
// is where the checkpoint was to be, for messages. Every field must be
// there: a missing seed read as 0 would silently change the batch order.
func resumeState(ck *model.Checkpoint, dir string) (TrainState, error) {
	if ck.RecoveredFrom != "" {
		dir = ck.RecoveredFrom
	}
	var st struct {
		Step   *int      `json:"step"`
		Seed   *uint64   `json:"seed"`
		Preset string    `json:"preset"`
		Split  []int     `json:"split"`
		On     []string  `json:"split_devices"`
		Check  bool      `json:"balance_checked"`
		Losses []float64 `json:"losses"`
		First  int       `json:"losses_first_step"`
		Moves  []Move    `json:"rebalances"`
		Eval   bool      `json:"eval_pending"`
	}
	if err := json.Unmarshal(ck.State, &st); err != nil {
		return TrainState{}, field.Errorf("resume", "{resume}: %s/state.json: %v", dir, err)
	}
	switch {
	case st.Step == nil || *st.Step < 1: // as model.LoadResume checks
		return TrainState{}, field.Errorf("resume", `{resume}: %s/state.json has no "step" of at least 1; the run cannot say where to continue`, dir)
	case st.Seed == nil:
		return TrainState{}, field.Errorf("resume", `{resume}: %s/state.json has no "seed"; a resumed run must draw its batches with the seed of the run it continues`, dir)
	}
	out := TrainState{Step: *st.Step, Seed: *st.Seed, Preset: st.Preset, Split: st.Split, SplitDevices: st.On, BalanceChecked: st.Check, Rebalances: st.Moves, EvalPending: st.Eval}
	if st.First >= 1 && st.First+len(st.Losses)-1 == out.Step { // what they are, or they say nothing
		out.Losses, out.LossesFirstStep = st.Losses, st.First
	}
	return out, nil
}

// NoCheckpointYet is the error, naming setting name, of dir where it is a
// run directory (it holds run.json) without a checkpoint yet, nor the
// checkpoint.old of an interrupted save; nil otherwise. Read as a
// checkpoint, such a directory would be said to lack config.json.
func NoCheckpointYet(name, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, RecordFile)); err != nil || model.HasRunCheckpoint(dir) {
		return nil
	}
	return field.Errorf(name, "{"+name+"} %s: the run has no checkpoint yet (no %s): a run saves one every {save-every} steps and at its end", dir, CheckpointDir(dir))
}

// presetOf names the preset c is, or "custom" (then base is a preset of
// the same vocabulary, which the model's sizes override in a record).
func presetOf(c model.Config) (name, base string) {
	for _, n := range model.PresetNames() {
		if model.Presets[n] == c {
			return n, n
		}
	}
	for _, n := range model.PresetNames() {
		if model.Presets[n].V == c.V {
			return "custom", n
		}
	}
	return "custom", ""
}

// Warnings are what the user must be told before the run starts: that the
// checkpoint to resume did not load and the previous one is used instead,
// and which step is lost.
func (t *Trainer) Warnings() []string { return t.warnings }

// gather collects every parameter and AdamW moment by GPT-2 name; the tied
// LM head's copy of wte on the last stage is the same tensor and is skipped.
// A tensor in host memory (a CPU device's) is not copied: the checkpoint
// holds the stage's own slice, valid until the stage next steps, which no
// caller lets it do before it has written or scattered the checkpoint. A
// copy of GPT-2 124M's parameters and moments is 1.5 GB, faulted in and
// dropped at every save.
func gather(stages []*Stage, cfg model.Config, state TrainState) (*model.Checkpoint, error) {
	ck := &model.Checkpoint{Config: cfg, Params: map[string][]float32{}, M: map[string][]float32{}, V: map[string][]float32{}}
	for _, st := range stages {
		if st == nil {
			continue // another rank's
		}
		s := st.Stack
		for i, t := range s.P.Specs {
			if _, ok := ck.Params[t.Name]; ok {
				continue
			}
			ck.Params[t.Name] = hostValues(s, s.P, i)
			ck.M[t.Name] = hostValues(s, s.M, i)
			ck.V[t.Name] = hostValues(s, s.V, i)
		}
	}
	raw, err := json.Marshal(state)
	if err != nil {
		return nil, err
	}
	ck.State = raw
	return ck, nil
}

// hostValues is tensor i of p on the host: the buffer itself when it is
// host memory, else a copy read back from the device.
func hostValues(s *transformer.Stack, p *transformer.Params, i int) []float32 {
	if h, ok := p.T[i].(kernels.HostFloats); ok {
		return h.Floats()
	}
	return s.Read(p, i)
}

// scatter loads a checkpoint saved after AdamW's step (0: weights alone,
// as for --init-from) into stages of any layout: every stage takes its
// tensors by name, so a model saved on 4 devices resumes on 1 or 2.
func scatter(stages []*Stage, ck *model.Checkpoint, step int) error {
	for _, st := range stages {
		if st == nil {
			continue // another rank's
		}
		s := st.Stack
		for i, t := range s.P.Specs {
			if _, ok := ck.Params[t.Name]; !ok {
				return fmt.Errorf("checkpoint has no tensor %s", t.Name)
			}
			writeTensor(s, i, ck, step)
		}
	}
	return nil
}

// writeTensor writes parameter i of s from ck, by name, as AdamW's step
// left it (WriteParam), and its moments where ck has them.
func writeTensor(s *transformer.Stack, i int, ck *model.Checkpoint, step int) {
	name := s.P.Specs[i].Name
	s.WriteParam(i, ck.Params[name], step)
	if ck.M != nil {
		s.Write(s.M, i, ck.M[name])
		s.Write(s.V, i, ck.V[name])
	}
}

// stackSpec turns a planned stage into the part of the decoder it holds.
func stackSpec(s model.Stage, r model.Recompute, vocab int) transformer.Spec {
	return transformer.Spec{FirstBlock: s.FirstLayer, NumBlocks: s.Blocks(), Embed: s.Embed, Head: s.Head, Recompute: r, Vocab: vocab}
}
