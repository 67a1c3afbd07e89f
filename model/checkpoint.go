// Checkpoints: the Checkpoint type and Save, which replaces a checkpoint directory atomically.

package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"baton/internal/fsutil"
)

// A checkpoint directory holds:
//
//	model.safetensors                parameters under GPT-2 names (wte.weight, ..., ln_f.bias), F32
//	config.json                      Hugging Face GPT2Config fields, so transformers can load the directory
//	optimizer/optimizer.safetensors  AdamW moments "m.<param>" and "v.<param>"; absent when saved without them
//	state.json                       the caller's training state, a JSON object: its "step" (at least 1) is
//	                                 the training steps the weights hold; the rest (seed, data position, ...)
//	                                 is the caller's; absent when nil
//
// The moments sit in a subdirectory so that the directory's top level holds
// only the model: a tool that globs *.safetensors (as loaders of sharded
// weights do) finds model.safetensors alone. Checkpoints written before
// that hold optimizer.safetensors beside the model (legacyOptimizerFile);
// Load still reads them.
//
// Every tensor holds finite numbers: Save refuses to write a NaN or an
// infinity and Load refuses to read one, so a diverged run never replaces
// the last good checkpoint and a damaged file fails at once, naming the tensor.
const (
	modelFile     = "model.safetensors"
	configFile    = "config.json"
	optimizerDir  = "optimizer"
	optimizerFile = optimizerDir + "/optimizer.safetensors"
	stateFile     = "state.json"

	legacyOptimizerFile = "optimizer.safetensors"

	mPrefix = "m."
	vPrefix = "v."

	// Sibling directories of a checkpoint dir during Save: the new one being
	// written, and the previous one while it is being replaced.
	tmpSuffix = ".tmp"
	oldSuffix = ".old"

	// Caps on the JSON files, so a wrong path cannot exhaust memory.
	maxConfigBytes = 1 << 20
	maxStateBytes  = 512 << 20 // every step's loss, ~20 bytes each, for runtime.MaxSteps
)

// Checkpoint is everything needed to resume training or to hand the model
// to another tool. Params, M and V are keyed by GPT-2 parameter name and
// laid out as Config.AllTensors describes.
type Checkpoint struct {
	Config Config
	Params map[string][]float32
	M, V   map[string][]float32 // AdamW moments; both nil when absent
	State  json.RawMessage      // owned by the caller; nil when absent
	// Extra are files Save writes beside the model by name (the tokenizer's
	// for a GPT-2 vocabulary: vocab.json, merges.txt); Load ignores them.
	Extra map[string][]byte
	// Tokens is what the token ids are, config.json's baton_tokens:
	// TokensBytes, TokensGPT2, or "" where the checkpoint does not say (a
	// Hugging Face model; a baton checkpoint from before it said).
	Tokens string

	// RecoveredFrom is set by Load when <dir> was missing or did not load
	// and it read the previous checkpoint <dir>.old instead (a Save was
	// interrupted, or <dir> was damaged since): that path. Save ignores it.
	RecoveredFrom string
	// Warnings are what the user must be told about this checkpoint: with
	// RecoveredFrom, what was wrong with <dir> and which step is lost. Save
	// ignores them.
	Warnings []string
}

// What a checkpoint's token ids are (Checkpoint.Tokens).
const (
	TokensBytes = "bytes" // byte-level text: id b is the byte b
	TokensGPT2  = "gpt2"  // GPT-2's BPE tokens
)

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
// one. It writes every file into <dir>.tmp and fsyncs it, moves <dir> aside
// to <dir>.old (see moveAside), renames <dir>.tmp to <dir>, fsyncs the
// parent, then removes <dir>.old. Two processes must not save to the same
// dir at once.
//
// Save writes nothing when ck does not pass checkSave (a non-finite
// tensor among others). When writing <dir>.tmp fails (a full disk), Save
// removes it, so it does not keep the space the next save needs; <dir> is
// untouched. A crash leaves <dir>.tmp, which Load ignores and the next Save
// removes.
func Save(dir string, ck *Checkpoint) error {
	dir, err := cleanDir(dir)
	if err != nil {
		return err
	}
	if err := checkSave(ck); err != nil {
		return fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	tmp, err := beginTmp(dir)
	if err != nil {
		return err
	}
	if err := removeOnError(tmp, writeFiles(tmp, ck)); err != nil {
		return fmt.Errorf("checkpoint %s: not saved (any previous checkpoint there is unchanged): %w", dir, err)
	}
	return commitTmp(dir)
}

// beginTmp makes the empty <dir>.tmp a new checkpoint of dir is written
// into, removing what an interrupted save left there.
func beginTmp(dir string) (string, error) {
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return "", fmt.Errorf("checkpoint %s: exists and is not a directory; choose another path", dir)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	tmp := dir + tmpSuffix
	if err := os.RemoveAll(tmp); err != nil {
		return "", fmt.Errorf("checkpoint %s: cannot remove the stale %s left by an interrupted save: %w", dir, tmp, err)
	}
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return "", fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	return tmp, nil
}

// commitTmp makes the checkpoint written into <dir>.tmp dir's: it fsyncs
// <dir>.tmp, moves dir aside, renames <dir>.tmp in its place, fsyncs the
// parent and removes the previous checkpoint (Save).
func commitTmp(dir string) error {
	tmp, old, parent := dir+tmpSuffix, dir+oldSuffix, filepath.Dir(dir)
	if err := hook("files"); err != nil {
		return err
	}
	if err := removeOnError(tmp, fsutil.SyncDir(tmp)); err != nil {
		return fmt.Errorf("checkpoint %s: not saved (any previous checkpoint there is unchanged): %w", dir, err)
	}
	if err := hook("written"); err != nil {
		return err
	}

	hadOld, err := moveAside(dir, old)
	if err != nil {
		return err
	}
	if err := hook("moved-old"); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if hadOld {
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

// moveAside makes way for the new checkpoint while keeping one Load can
// read, and says whether there is one in old. Alone, dir is renamed to old.
// When both exist, either a save was interrupted after its last rename (dir
// is the newer and loads) or dir was damaged since and Load fell back to
// old. The one that loads is kept, as old: a crash between the removal and
// the rename then leaves it where Load looks (dir, or old). Removing dir
// whenever both exist would lose its step to a crash in that window, as a
// run killed twice in a row showed (TestKillDuringCheckpoints).
func moveAside(dir, old string) (bool, error) {
	_, err := os.Stat(old)
	hadOld := err == nil
	if _, err := os.Stat(dir); err != nil {
		return hadOld, nil
	}
	if hadOld {
		if _, err := loadDir(dir, false, keepNone); err != nil { // damaged: old is the checkpoint
			if err := os.RemoveAll(dir); err != nil {
				return false, fmt.Errorf("checkpoint %s: cannot remove it to make way for the new one (the previous one is in %s): %w", dir, old, err)
			}
			return true, nil
		}
		if err := os.RemoveAll(old); err != nil {
			return false, fmt.Errorf("checkpoint %s: cannot remove the stale %s left by an interrupted save: %w", dir, old, err)
		}
	}
	if err := os.Rename(dir, old); err != nil {
		return false, fmt.Errorf("checkpoint %s: cannot move the previous checkpoint aside: %w", dir, err)
	}
	return true, nil
}

// removeOnError removes the partly written tmp when err is set, and returns err.
func removeOnError(tmp string, err error) error {
	if err == nil {
		return nil
	}
	if rerr := os.RemoveAll(tmp); rerr != nil {
		return fmt.Errorf("%w (and the partial %s could not be removed: %v)", err, tmp, rerr)
	}
	return err
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
	if err := checkTensors(ck.Config.AllTensors(), ck.Params, ck.M, ck.V); err != nil {
		return err
	}
	if err := checkExtra(ck.Extra); err != nil {
		return err
	}
	return checkState(ck.State)
}

// checkExtra rejects an extra file whose name is not a plain file name,
// or is one of the checkpoint's own: its config, state, model or
// optimizer files and directories, the token of a save in parts, or any
// .safetensors file (transformers would take it for the model's).
func checkExtra(extra map[string][]byte) error {
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		own := slices.Contains([]string{configFile, stateFile, modelIndex, optimizerDir, begunFile}, name) || strings.HasSuffix(name, ".safetensors")
		if name != filepath.Base(name) || name == "." || name == ".." || own {
			return fmt.Errorf("the checkpoint's extra file %q: a checkpoint's own file, or not a file name; give a plain name that none of the checkpoint's files has", name)
		}
	}
	return nil
}

// checkTensors rejects tensors Load would refuse: params must hold each of
// ts, of its shape and finite, and the moments m and v (both or neither)
// the same.
func checkTensors(ts []Tensor, params, m, v map[string][]float32) error {
	if (m == nil) != (v == nil) {
		return errors.New("optimizer state has only one of M and V; set both (to save the moments) or neither")
	}
	for _, f := range []struct {
		name    string
		tensors map[string][]float32
	}{{"Params", params}, {"M", m}, {"V", v}} {
		if f.tensors == nil && f.name != "Params" {
			continue
		}
		if err := checkTensorMap(f.name, f.tensors, ts); err != nil {
			return err
		}
		if err := checkFiniteMap(f.name, f.tensors, ts); err != nil {
			return err
		}
	}
	return nil
}

// checkState rejects a State Load would refuse; nil is none.
func checkState(state json.RawMessage) error {
	if state == nil {
		return nil
	}
	if !json.Valid(state) {
		return errors.New("the checkpoint's State is not valid JSON; pass json.Marshal's output or nil")
	}
	if _, err := stateStep(state); err != nil {
		return fmt.Errorf("the checkpoint's State %w", err)
	}
	return nil
}

// ErrNotFinite is in the chain of Save's error when a tensor to save holds
// a NaN or an infinity: the training diverged.
var ErrNotFinite = errors.New("a checkpoint is never written with a non-finite value")

// checkFiniteMap refuses a NaN or an infinity in any of m's tensors: a
// checkpoint that holds one cannot be resumed, so writing it would only
// replace the last good one.
func checkFiniteMap(field string, m map[string][]float32, ts []Tensor) error {
	for _, t := range ts {
		if i := firstNonFinite(m[t.Name]); i >= 0 {
			return fmt.Errorf("%s[%s][%d] is %v: %w, so the previous checkpoint is kept", field, t.Name, i, m[t.Name][i], ErrNotFinite)
		}
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
	ts := ck.Config.AllTensors()
	// SerializeToWriter builds only the header in memory and streams the
	// tensors, one converted tensor at a time.
	if err := fsutil.WriteNew(filepath.Join(tmp, modelFile), func(w io.Writer) error {
		return encodeTensors(w, ts, ck.Params)
	}); err != nil {
		return err
	}
	if ck.M != nil {
		if err := os.Mkdir(filepath.Join(tmp, optimizerDir), 0o755); err != nil {
			return err
		}
		if err := writeOptimizer(tmp, optimizerFile, ts, ck.M, ck.V); err != nil {
			return err
		}
	}
	return writeMeta(tmp, ck)
}

// writeMeta writes what a checkpoint holds beside its tensors: config.json,
// the extra files and state.json.
func writeMeta(tmp string, ck *Checkpoint) error {
	cfg, err := encodeHFConfig(ck.Config, ck.Tokens)
	if err != nil {
		return fmt.Errorf("checkpoint %s: encode config.json: %w", tmp, err)
	}
	if err := fsutil.WriteNew(filepath.Join(tmp, configFile), func(w io.Writer) error {
		_, err := w.Write(cfg)
		return err
	}); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(ck.Extra)) {
		if err := fsutil.WriteNew(filepath.Join(tmp, name), func(w io.Writer) error {
			_, err := w.Write(ck.Extra[name])
			return err
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
	return nil
}

// writeOptimizer writes the AdamW moments m and v of ts as file (relative
// to tmp) in tmp's optimizer directory, which must be there, and fsyncs
// that directory too: Save's fsync of tmp makes only tmp's own entries
// durable, not the file's entry inside the subdirectory. It makes no
// directory: a writer of a checkpoint's part must not make again a tmp
// that an aborted save removed.
func writeOptimizer(tmp, file string, ts []Tensor, m, v map[string][]float32) error {
	mv := make(map[string][]float32, 2*len(ts))
	for _, t := range ts {
		mv[mPrefix+t.Name] = m[t.Name]
		mv[vPrefix+t.Name] = v[t.Name]
	}
	all := append(prefixed(mPrefix, ts), prefixed(vPrefix, ts)...)
	if err := fsutil.WriteNew(filepath.Join(tmp, file), func(w io.Writer) error {
		return encodeTensors(w, all, mv)
	}); err != nil {
		return err
	}
	return fsutil.SyncDir(filepath.Join(tmp, optimizerDir))
}
