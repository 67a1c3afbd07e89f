// Checkpoints: the Checkpoint type and Save, which replaces a checkpoint directory atomically.

package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"baton/internal/fsutil"
)

// A checkpoint directory holds:
//
//	model.safetensors      parameters under GPT-2 names (wte.weight, ..., ln_f.bias), F32
//	config.json            Hugging Face GPT2Config fields, so transformers can load the directory
//	optimizer.safetensors  AdamW moments "m.<param>" and "v.<param>"; absent when saved without them
//	state.json             the caller's training state (step, seed, data position, ...); absent when nil
const (
	modelFile     = "model.safetensors"
	configFile    = "config.json"
	optimizerFile = "optimizer.safetensors"
	stateFile     = "state.json"

	mPrefix = "m."
	vPrefix = "v."

	// Sibling directories of a checkpoint dir during Save: the new one being
	// written, and the previous one while it is being replaced.
	tmpSuffix = ".tmp"
	oldSuffix = ".old"

	// Caps on the JSON files, so a wrong path cannot exhaust memory.
	maxConfigBytes = 1 << 20
	maxStateBytes  = 64 << 20
)

// Checkpoint is everything needed to resume training or to hand the model
// to another tool. Params, M and V are keyed by GPT-2 parameter name and
// laid out as Config.AllTensors describes.
type Checkpoint struct {
	Config Config
	Params map[string][]float32
	M, V   map[string][]float32 // AdamW moments; both nil when absent
	State  json.RawMessage      // owned by the caller; nil when absent

	// RecoveredFrom is set by Load when <dir> was missing or did not load
	// and it read the previous checkpoint <dir>.old instead (a Save was
	// interrupted): that path. Save ignores it.
	RecoveredFrom string
}

// saveHook, when set by a test, runs after each step of Save's replacement
// sequence; an error stops Save on the spot, leaving the files exactly as a
// crash at that point would.
var saveHook func(step string) error

func hook(step string) error {
	if saveHook == nil {
		return nil
	}
	return saveHook(step)
}

// Save writes ck to dir, replacing any checkpoint there, so that a crash at
// any moment leaves a checkpoint Load can read: the previous one or the new
// one. It writes every file into <dir>.tmp and fsyncs it, renames <dir> to
// <dir>.old, renames <dir>.tmp to <dir>, fsyncs the parent, then removes
// <dir>.old. Two processes must not save to the same dir at once.
//
// On an error Save leaves whatever it had written: a stale <dir>.tmp is
// ignored by Load and removed by the next Save.
func Save(dir string, ck *Checkpoint) error {
	dir, err := cleanDir(dir)
	if err != nil {
		return err
	}
	if err := checkSave(ck); err != nil {
		return fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return fmt.Errorf("checkpoint %s: exists and is not a directory; choose another path", dir)
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	tmp, old := dir+tmpSuffix, dir+oldSuffix
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("checkpoint %s: cannot remove the stale %s left by an interrupted save: %w", dir, tmp, err)
	}
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	if err := writeFiles(tmp, ck); err != nil {
		return err
	}
	if err := fsutil.SyncDir(tmp); err != nil {
		return err
	}
	if err := hook("written"); err != nil {
		return err
	}

	_, err = os.Stat(dir)
	hadDir := err == nil
	if hadDir {
		// A leftover .old beside a complete dir is from a save interrupted
		// after its last rename; dir is the newer checkpoint, so drop .old.
		// (Without dir, .old is the only checkpoint: it stays until the new
		// one is in place.)
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("checkpoint %s: cannot remove the stale %s: %w", dir, old, err)
		}
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("checkpoint %s: cannot move the previous checkpoint aside: %w", dir, err)
		}
		if err := hook("moved-old"); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if hadDir {
			return fmt.Errorf("checkpoint %s: cannot move the new checkpoint in place (the previous one is in %s, where Load finds it): %w", dir, old, err)
		}
		return fmt.Errorf("checkpoint %s: cannot move the new checkpoint in place: %w", dir, err)
	}
	if err := hook("renamed"); err != nil {
		return err
	}
	if err := fsutil.SyncDir(parent); err != nil {
		return err
	}
	if err := hook("synced"); err != nil {
		return err
	}
	// The new checkpoint is durable now; .old is only clutter. A crash before
	// this removal is harmless: Load prefers dir, the next Save removes .old.
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("checkpoint %s: saved, but cannot remove the previous checkpoint %s: %w", dir, old, err)
	}
	return nil
}

// cleanDir normalises dir so that dir+".tmp" is a sibling, not a child.
func cleanDir(dir string) (string, error) {
	d := filepath.Clean(dir)
	switch filepath.Base(d) {
	case ".", "..", string(filepath.Separator):
		return "", fmt.Errorf("checkpoint %q: name a directory of its own (such as runs/ckpt), not . or .. or /: Save replaces the whole directory", dir)
	}
	return d, nil
}

// checkSave rejects a checkpoint that Load would refuse, before anything is written.
func checkSave(ck *Checkpoint) error {
	if ck == nil {
		return errors.New("nil Checkpoint")
	}
	if err := ck.Config.Validate(); err != nil {
		return err
	}
	ts := ck.Config.AllTensors()
	if err := checkTensorMap("Params", ck.Params, ts); err != nil {
		return err
	}
	if (ck.M == nil) != (ck.V == nil) {
		return errors.New("optimizer state has only one of M and V; set both (to save the moments) or neither")
	}
	if ck.M != nil {
		if err := checkTensorMap("M", ck.M, ts); err != nil {
			return err
		}
		if err := checkTensorMap("V", ck.V, ts); err != nil {
			return err
		}
	}
	if ck.State != nil && !json.Valid(ck.State) {
		return errors.New("State is not valid JSON; pass json.Marshal's output or nil")
	}
	return nil
}

// checkTensorMap checks that m holds exactly ts, each with Elems values.
func checkTensorMap(field string, m map[string][]float32, ts []Tensor) error {
	for _, t := range ts {
		v, ok := m[t.Name]
		if !ok {
			return fmt.Errorf("%s has no tensor %s; it must hold every tensor of Config.AllTensors", field, t.Name)
		}
		if len(v) != t.Elems() {
			return fmt.Errorf("%s[%s] has %d values, want %d for shape %v", field, t.Name, len(v), t.Elems(), t.Shape)
		}
	}
	if len(m) != len(ts) {
		known := make(map[string]bool, len(ts))
		for _, t := range ts {
			known[t.Name] = true
		}
		for name := range m {
			if !known[name] {
				return fmt.Errorf("%s has tensor %q, which is not a parameter of this Config; remove it", field, name)
			}
		}
	}
	return nil
}

// prefixed returns ts with names prefixed (m.wte.weight, ...).
func prefixed(prefix string, ts []Tensor) []Tensor {
	out := make([]Tensor, len(ts))
	for i, t := range ts {
		t.Name = prefix + t.Name
		out[i] = t
	}
	return out
}

func writeFiles(tmp string, ck *Checkpoint) error {
	cfg, err := encodeHFConfig(ck.Config)
	if err != nil {
		return fmt.Errorf("checkpoint %s: encode config.json: %w", tmp, err)
	}
	if err := fsutil.WriteNew(filepath.Join(tmp, configFile), func(w io.Writer) error {
		_, err := w.Write(cfg)
		return err
	}); err != nil {
		return err
	}
	ts := ck.Config.AllTensors()
	// SerializeToWriter builds only the header in memory and streams the
	// tensors, one converted tensor at a time.
	if err := fsutil.WriteNew(filepath.Join(tmp, modelFile), func(w io.Writer) error {
		return encodeTensors(w, ts, ck.Params)
	}); err != nil {
		return err
	}
	if ck.M != nil {
		mv := make(map[string][]float32, 2*len(ts))
		for _, t := range ts {
			mv[mPrefix+t.Name] = ck.M[t.Name]
			mv[vPrefix+t.Name] = ck.V[t.Name]
		}
		all := append(prefixed(mPrefix, ts), prefixed(vPrefix, ts)...)
		if err := fsutil.WriteNew(filepath.Join(tmp, optimizerFile), func(w io.Writer) error {
			return encodeTensors(w, all, mv)
		}); err != nil {
			return err
		}
	}
	if ck.State != nil {
		if err := fsutil.WriteNew(filepath.Join(tmp, stateFile), func(w io.Writer) error {
			_, err := w.Write(ck.State)
			return err
		}); err != nil {
			return err
		}
	}
	return hook("files")
}
