// Load: reading a checkpoint directory back, checking every file, falling back to <dir>.old with a warning when it does not load.

package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"baton/internal/fsutil"
)

// Load reads the checkpoint in dir for its weights: config.json and
// model.safetensors (or the shards model.safetensors.index.json names) must be there; state.json is read when present. The
// AdamW moments are not read: they are twice the weights, and what reads
// weights alone (sampling, a run started from them) has no use for them.
// See load for the checks. A directory whose tensors are
// named as transformers saves them (hfNamed) is read as LoadHF reads it:
// what a run can start from can be sampled.
func Load(dir string) (*Checkpoint, error) {
	if hfNamed(dir) {
		return LoadHF(dir)
	}
	return load(dir, false, nil)
}

// ErrNoCheckpoint is the error of a load where neither the checkpoint
// directory nor the <dir>.old an interrupted Save leaves exists.
var ErrNoCheckpoint = errors.New("no such directory")

// LoadResume reads the checkpoint in dir to continue training from: beyond
// what Load reads, optimizer/optimizer.safetensors or its shards (without it AdamW would restart
// from zero moments) and state.json (without it, from step 0 on trained
// weights) must be there.
func LoadResume(dir string) (*Checkpoint, error) { return load(dir, true, nil) }

// Keep chooses, from a checkpoint's model and training state, the tensors
// a load keeps, by name; nil keeps all of them.
type Keep func(c Config, state json.RawMessage) func(name string) bool

// keepNone checks every tensor and keeps none.
func keepNone(Config, json.RawMessage) func(string) bool {
	return func(string) bool { return false }
}

// LoadResumeKeeping is LoadResume keeping only the tensors, and their
// moments, that keep chooses for the checkpoint it reads: a rank holds its
// own stages' tensors, not the whole model, at once. Every file is still
// read and checked, so that ranks keeping different tensors choose the same
// checkpoint (dir, or <dir>.old); what a rank holds at once is its own
// tensors and one file. keep is asked again for <dir>.old, whose state may
// split the model otherwise.
func LoadResumeKeeping(dir string, keep Keep) (*Checkpoint, error) { return load(dir, true, keep) }

// load reads dir and checks every file: each a regular file (a named pipe
// would block the read), complete, every tensor present, F32, of the shape
// config.json gives, finite, and nothing else; state.json an object with a
// step. When dir is missing or does not load but <dir>.old (left by an
// interrupted Save) does, it returns that one with RecoveredFrom set and a
// warning saying what was wrong with dir and which step is lost. A
// <dir>.tmp is never read: it may be half written.
//
// A Save running meanwhile (a run saving while sample reads it) swaps dir
// and <dir>.old under the reader, which may then find neither whole: a
// load that failed while the two changed is read again.
func load(dir string, resume bool, keep Keep) (*Checkpoint, error) {
	dir, err := cleanDir(dir)
	if err != nil {
		return nil, err
	}
	for tries := 1; ; tries++ {
		before := swapStamp(dir)
		ck, err := loadOnce(dir, resume, keep)
		if err == nil || tries == 3 || swapStamp(dir) == before {
			return ck, err
		}
	}
}

// swapStamp tells dir and <dir>.old apart from what a Save leaves in their
// place: the inode of each, 0 where it is missing.
func swapStamp(dir string) [2]uint64 {
	var s [2]uint64
	for i, p := range []string{dir, dir + oldSuffix} {
		if fi, err := os.Stat(p); err == nil {
			s[i] = inode(fi)
		}
	}
	return s
}

func loadOnce(dir string, resume bool, keep Keep) (*Checkpoint, error) {
	ck, err := loadDir(dir, resume, keep)
	if err == nil {
		return ck, nil
	}
	old := dir + oldSuffix
	if _, serr := os.Stat(old); serr != nil {
		return nil, err
	}
	ck, oerr := loadDir(old, resume, keep)
	if oerr != nil {
		return nil, fmt.Errorf("%w (the previous checkpoint does not load either: %v)", err, oerr)
	}
	ck.RecoveredFrom = old
	ck.Warnings = append(ck.Warnings, fallbackWarning(dir, err, ck))
	return ck, nil
}

func loadDir(dir string, resume bool, keep Keep) (*Checkpoint, error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("checkpoint %s: %w; check the path (a run's checkpoint is the checkpoint/ in its run directory, written as it trains)", dir, ErrNoCheckpoint)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("checkpoint %s: not a directory; a checkpoint is a directory holding %s and %s", dir, modelFile, configFile)
	}
	// The small files first: a checkpoint that cannot be resumed is refused
	// before its tensors are read.
	state, err := readState(dir, resume)
	if err != nil {
		return nil, err
	}
	var optFile string
	if resume {
		if optFile, err = optimizerFileOf(dir); err != nil {
			return nil, err
		}
	}

	cfg, tokens, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	ck := &Checkpoint{Config: cfg, State: state, Tokens: tokens}
	ts := cfg.AllTensors()
	var kept func(string) bool
	if keep != nil {
		kept = keep(cfg, state)
	}
	if ck.Params, err = readTensors(dir, modelFile, modelIndex, ts, cfg, asIs, readTensorFile, kept); err != nil {
		return nil, err
	}
	if !resume {
		return ck, nil
	}
	mv, err := readTensors(dir, optFile, optimizerIndex, append(prefixed(mPrefix, ts), prefixed(vPrefix, ts)...), cfg, asIs, readTensorFile, keptMoments(kept))
	if err != nil {
		return nil, err
	}
	ck.M = make(map[string][]float32, len(ts))
	ck.V = make(map[string][]float32, len(ts))
	for _, t := range ts {
		if kept == nil || kept(t.Name) {
			ck.M[t.Name] = mv[mPrefix+t.Name]
			ck.V[t.Name] = mv[vPrefix+t.Name]
		}
	}
	return ck, nil
}

// keptMoments keeps the moments of the tensors kept keeps (nil: all).
func keptMoments(kept func(string) bool) func(string) bool {
	if kept == nil {
		return nil
	}
	return func(name string) bool {
		for _, p := range []string{mPrefix, vPrefix} {
			if n, ok := strings.CutPrefix(name, p); ok {
				return kept(n)
			}
		}
		return false
	}
}

// optimizerFileOf finds dir's AdamW moments, which a resume needs:
// optimizer/optimizer.safetensors (or its shards), or optimizer.safetensors
// beside the model in a checkpoint saved before the moments moved. It
// returns the file readTensors reads where there are no shards. Both
// layouts at once are refused: which one the run wrote last is unknown.
func optimizerFileOf(dir string) (string, error) {
	hasLegacy, err := present(filepath.Join(dir, legacyOptimizerFile), false, "")
	if err != nil {
		return "", err
	}
	hasIndex, err := present(filepath.Join(dir, optimizerIndex), false, "")
	if err != nil {
		return "", err
	}
	has, err := present(filepath.Join(dir, optimizerFile), !hasLegacy && !hasIndex, "the AdamW moments it holds: without them training would restart them at zero")
	switch {
	case err != nil:
		return "", err
	case (has || hasIndex) && hasLegacy:
		current := optimizerFile
		if !has {
			current = optimizerIndex
		}
		return "", fmt.Errorf("checkpoint %s: holds both %s and the older layout's %s; remove the stale one", dir, current, legacyOptimizerFile)
	case hasLegacy:
		return legacyOptimizerFile, nil
	}
	return optimizerFile, nil
}

// readState reads and checks dir's state.json; nil when it is absent and
// not required.
func readState(dir string, required bool) (json.RawMessage, error) {
	path := filepath.Join(dir, stateFile)
	ok, err := present(path, required, "the training step, seed and data position it holds: without them training would restart at step 0")
	if !ok || err != nil {
		return nil, err
	}
	state, err := readCapped(path, maxStateBytes)
	if err != nil {
		return nil, err
	}
	if !json.Valid(state) {
		return nil, fmt.Errorf("checkpoint %s: not valid JSON; the file is damaged", path)
	}
	if _, err := stateStep(state); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return json.RawMessage(state), nil
}

// present says whether a file that a checkpoint may lack is there; a
// required one that is missing is an error saying what it holds (why).
// Anything at path counts, so that a dangling link or a named pipe is
// refused when it is opened rather than taken for an absent file.
func present(path string, required bool, why string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("checkpoint %s: %w", path, err)
	case required:
		return false, fmt.Errorf("checkpoint %s: missing; resuming needs %s", path, why)
	}
	return false, nil
}

// readCapped reads a whole file, refusing one larger than limit before
// reading it.
func readCapped(path string, limit int64) ([]byte, error) {
	f, fi, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > limit {
		return nil, fmt.Errorf("checkpoint %s: file is %d bytes, more than the %d this file can reasonably have; is it the right file?", path, fi.Size(), limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: read: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("checkpoint %s: file grew past %d bytes while being read", path, limit)
	}
	return b, nil
}

// openFile opens a checkpoint file, which must be a regular file; a
// missing file's error names the files a checkpoint needs.
func openFile(path string) (*os.File, fs.FileInfo, error) {
	f, fi, err := fsutil.OpenRegular(path)
	var nr *fsutil.NotRegularError
	switch {
	case err == nil:
		return f, fi, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("checkpoint %s: missing; a checkpoint directory needs %s and %s, as baton and Hugging Face's save_pretrained write them", path, modelFile, configFile)
	case errors.As(err, &nr):
		return nil, nil, fmt.Errorf("checkpoint %s: %s, not a regular file; a checkpoint holds only the regular files baton writes", path, fsutil.Kind(nr.Mode))
	}
	return nil, nil, fmt.Errorf("checkpoint %s: %w", path, err)
}

// readConfig reads and decodes dir's config.json (Hugging Face's GPT2Config
// keys), and what its token ids are ("" where it does not say).
func readConfig(dir string) (Config, string, error) {
	path := filepath.Join(dir, configFile)
	raw, err := readCapped(path, maxConfigBytes)
	if err != nil {
		return Config{}, "", err
	}
	cfg, tokens, err := decodeHFConfig(raw)
	if err != nil {
		return Config{}, "", fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return cfg, tokens, nil
}
