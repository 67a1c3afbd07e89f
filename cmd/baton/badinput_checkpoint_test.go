// The bad-input catalogue's damaged checkpoints: files missing, state that says no step, truncated or non-finite tensors, files that are not regular files.

package main

import (
	"math"
	"testing"
)

const ckOpt = "run/checkpoint/optimizer/optimizer.safetensors"

// damagedCheckpoints are cases of a run whose checkpoint (trained: the
// fixture's description) is not what it claims. A resume needs every file,
// whole, regular and finite: never a silent restart at step 0 or with
// zeroed AdamW moments. Sampling needs the weights, and refuses rather
// than print NUL bytes.
func damagedCheckpoints(trained string) []badInput {
	return []badInput{
		{name: "resume without optimizer state", args: train("--resume"), fixture: trained + "; optimizer/optimizer.safetensors removed",
			setup: withRun(remove(ckOpt)), code: 1, msg: "optimizer/optimizer.safetensors: missing; resuming needs the AdamW moments"},
		{name: "resume without state.json", args: train("--resume"), fixture: trained + "; state.json removed",
			setup: withRun(remove(ckState)), code: 1, msg: "state.json: missing; resuming needs the training step"},
		{name: "resume with an empty state", args: train("--resume"), fixture: trained + "; state.json is {}",
			setup: withRun(writeFile(ckState, []byte("{}"))), code: 1, msg: `state.json: has no "step"`},
		{name: "resume with a null state", args: train("--resume"), fixture: trained + "; state.json is null",
			setup: withRun(writeFile(ckState, []byte("null"))), code: 1, msg: "state.json: is not a JSON object"},
		{name: "resume with an empty state file", args: train("--resume"), fixture: trained + "; state.json is 0 bytes",
			setup: withRun(writeFile(ckState, nil)), code: 1, msg: "state.json: not valid JSON"},
		{name: "resume at a negative step", args: train("--resume"), fixture: trained + `; state.json is {"step": -5, "seed": 1}`,
			setup: withRun(writeFile(ckState, []byte(`{"step": -5, "seed": 1}`))), code: 1, msg: `state.json: has "step": -5`},
		{name: "resume at step 0", args: train("--resume"), fixture: trained + `; state.json is {"step": 0, "seed": 1}`,
			setup: withRun(writeFile(ckState, []byte(`{"step": 0, "seed": 1}`))), code: 1, msg: "at least one training step"},
		{name: "resume at a fractional step", args: train("--resume"), fixture: trained + `; state.json is {"step": 1.5, "seed": 1}`,
			setup: withRun(writeFile(ckState, []byte(`{"step": 1.5, "seed": 1}`))), code: 1, msg: "not a whole number"},
		{name: "resume without a seed", args: train("--resume"), fixture: trained + `; state.json is {"step": 2}`,
			setup: withRun(writeFile(ckState, []byte(`{"step": 2}`))), code: 1, msg: `state.json has no "seed"`},
		{name: "resume with truncated tensors", args: train("--resume"), fixture: trained + "; model.safetensors cut to half its size",
			setup: withRun(truncateHalf(ckModel)), code: 1, msg: "model.safetensors: not a valid safetensors file"},
		{name: "resume with a truncated optimizer state", args: train("--resume"), fixture: trained + "; optimizer/optimizer.safetensors cut to half its size",
			setup: withRun(truncateHalf(ckOpt)), code: 1, msg: "optimizer/optimizer.safetensors: not a valid safetensors file"},
		{name: "resume with a NaN weight", args: train("--resume"), fixture: trained + "; h.0.attn.c_attn.weight[7] set to NaN",
			setup: withRun(poison(ckModel, "h.0.attn.c_attn.weight", 7, math.NaN())), code: 1, msg: "tensor h.0.attn.c_attn.weight holds NaN at index 7"},
		{name: "resume with an infinite moment", args: train("--resume"), fixture: trained + "; v.ln_f.bias[0] set to +Inf",
			setup: withRun(poison(ckOpt, "v.ln_f.bias", 0, math.Inf(1))), code: 1, msg: "tensor v.ln_f.bias holds +Inf at index 0"},
		{name: "resume with state.json a directory", args: train("--resume"), fixture: trained + "; state.json replaced by a directory",
			setup: withRun(replaceWithDir(ckState)), code: 1, msg: "state.json: a directory, not a regular file"},
		{name: "resume with tensors from a device", args: train("--resume"), fixture: trained + "; model.safetensors a link to /dev/zero",
			setup: withRun(symlink(ckModel, "/dev/zero")), code: 1, msg: "model.safetensors: a character device, not a regular file"},
		{name: "sample NaN weight", args: []string{"sample", "--from=run"}, fixture: trained + "; wte.weight[100] set to NaN",
			setup: withRun(poison(ckModel, "wte.weight", 100, math.NaN())), code: 1, msg: "tensor wte.weight holds NaN at index 100"},
		{name: "sample infinite weight", args: []string{"sample", "--from=run"}, fixture: trained + "; ln_f.weight[3] set to -Inf",
			setup: withRun(poison(ckModel, "ln_f.weight", 3, math.Inf(-1))), code: 1, msg: "tensor ln_f.weight holds -Inf at index 3"},
		{name: "sample weights that overflow", args: []string{"sample", "--from=run"}, fixture: trained + "; every weight 3e38 (finite), no optimizer state",
			setup: withRun(hugeWeights), code: 1, msg: "not finite numbers: its weights overflow"},
		{name: "sample config a directory", args: []string{"sample", "--from=run"}, fixture: trained + "; config.json replaced by a directory",
			setup: withRun(replaceWithDir(ckConfig)), code: 1, msg: "config.json: a directory, not a regular file"},
		{name: "sample tensors from a device", args: []string{"sample", "--from=run"}, fixture: trained + "; model.safetensors a link to /dev/zero",
			setup: withRun(symlink(ckModel, "/dev/zero")), code: 1, msg: "model.safetensors: a character device, not a regular file"},
	}
}

// replaceWithDir puts an empty directory where the file rel was.
func replaceWithDir(rel string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		remove(rel)(t, dir)
		mkdir(rel)(t, dir)
	}
}
