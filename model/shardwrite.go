// Writing a checkpoint in parts: each writer (a run's rank) writes the shards of its own tensors, and one commits them under an index, whole or not at all.

package model

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"baton/internal/fsutil"
)

// A Part is what one writer of a checkpoint wrote into <dir>.tmp
// (WritePart): its files and their sizes, for the committer to check that
// it sees them whole, and the parameters in them, for the index.
type Part struct {
	Model      string // the model shard, in the checkpoint directory
	ModelBytes int64
	// Optimizer is the moments' shard in the optimizer directory; "" when
	// the part was written without them.
	Optimizer      string
	OptimizerBytes int64
	Names          []string // the parameters it holds, by GPT-2 name
}

// shardName is part k's file of n, as transformers names shards:
// model-00001-of-00002.safetensors.
func shardName(kind string, k, n int) string {
	return fmt.Sprintf("%s-%05d-of-%05d.safetensors", kind, k, n)
}

// BeginParts starts a checkpoint of dir written in parts: it makes an
// empty <dir>.tmp (removing an interrupted save's), which every writer's
// WritePart writes into, and which CommitParts makes the checkpoint. One
// writer (a run's rank 0) calls it before any other writes.
func BeginParts(dir string) error {
	dir, err := cleanDir(dir)
	if err != nil {
		return err
	}
	_, err = beginTmp(dir)
	return err
}

// AbortParts removes what BeginParts and the writers left, when a writer
// failed; dir itself is untouched.
func AbortParts(dir string) error {
	dir, err := cleanDir(dir)
	if err != nil {
		return err
	}
	return os.RemoveAll(dir + tmpSuffix)
}

// WritePart writes part k (1 to n) of a checkpoint of c into <dir>.tmp:
// params and their AdamW moments m and v (both or neither), any of c's
// tensors, each finite, as the shards model-k-of-n and
// optimizer/optimizer-k-of-n. The files are fsynced. The other parts'
// writers may write at once; their tensors must be others.
func WritePart(dir string, k, n int, c Config, params, m, v map[string][]float32) (Part, error) {
	dir, err := cleanDir(dir)
	if err != nil {
		return Part{}, err
	}
	if k < 1 || k > n {
		return Part{}, fmt.Errorf("checkpoint %s: part %d of %d; parts count from 1", dir, k, n)
	}
	if err := c.Validate(); err != nil {
		return Part{}, err
	}
	ts, err := partTensors(c, params, m, v)
	if err != nil {
		return Part{}, fmt.Errorf("checkpoint %s: part %d: %w", dir, k, err)
	}
	tmp := dir + tmpSuffix
	if fi, err := os.Stat(tmp); err != nil || !fi.IsDir() {
		return Part{}, fmt.Errorf("checkpoint %s: %s is not there to write part %d into (%w); every writer of a checkpoint must share the directory its first one made", dir, tmp, k, cmp.Or(err, fs.ErrNotExist))
	}
	p := Part{Model: shardName("model", k, n)}
	for _, t := range ts {
		p.Names = append(p.Names, t.Name)
	}
	if err := fsutil.WriteNew(filepath.Join(tmp, p.Model), func(w io.Writer) error {
		return encodeTensors(w, ts, params)
	}); err != nil {
		return Part{}, err
	}
	if m != nil {
		p.Optimizer = shardName("optimizer", k, n)
		if err := writeOptimizer(tmp, filepath.Join(optimizerDir, p.Optimizer), ts, m, v); err != nil {
			return Part{}, err
		}
	}
	if err := fsutil.SyncDir(tmp); err != nil {
		return Part{}, err
	}
	if p.ModelBytes, err = fileSize(filepath.Join(tmp, p.Model)); err != nil {
		return Part{}, err
	}
	if m != nil {
		if p.OptimizerBytes, err = fileSize(filepath.Join(tmp, optimizerDir, p.Optimizer)); err != nil {
			return Part{}, err
		}
	}
	return p, nil
}

// partTensors checks a part's tensors, which WritePart would otherwise
// write unchecked (CommitParts checks only that the parts cover the
// model): each of c's, of its shape and finite, and the moments of the same.
func partTensors(c Config, params, m, v map[string][]float32) ([]Tensor, error) {
	var ts []Tensor
	for _, t := range c.AllTensors() {
		if _, ok := params[t.Name]; ok {
			ts = append(ts, t)
		}
	}
	if err := checkTensorMap("Params", params, ts); err != nil {
		return nil, err
	}
	if err := checkFiniteMap("Params", params, ts); err != nil {
		return nil, err
	}
	if (m == nil) != (v == nil) {
		return nil, errors.New("optimizer state has only one of M and V; set both (to save the moments) or neither")
	}
	if m == nil {
		return ts, nil
	}
	for field, mv := range map[string]map[string][]float32{"M": m, "V": v} {
		if err := checkTensorMap(field, mv, ts); err != nil {
			return nil, err
		}
		if err := checkFiniteMap(field, mv, ts); err != nil {
			return nil, err
		}
	}
	return ts, nil
}

// fileSize is the size of the file at path.
func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// CommitParts completes the checkpoint BeginParts started: it checks that
// parts hold every tensor of ck.Config once, all with moments or none, and
// that their files are in <dir>.tmp whole (a writer that sees another
// directory wrote them elsewhere); then it writes the indexes (in
// transformers' format, which from_pretrained reads) and ck's config.json,
// extra files and state.json, and replaces dir as Save does. ck's tensors
// are not read. On an error <dir>.tmp is removed and dir is untouched.
func CommitParts(dir string, ck *Checkpoint, parts []Part) error {
	dir, err := cleanDir(dir)
	if err != nil {
		return err
	}
	if err := ck.Config.Validate(); err != nil {
		return err
	}
	if err := checkState(ck.State); err != nil {
		return fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	tmp := dir + tmpSuffix
	if err := removeOnError(tmp, writeIndexes(tmp, ck, parts)); err != nil {
		return fmt.Errorf("checkpoint %s: not saved (any previous checkpoint there is unchanged): %w", dir, err)
	}
	return commitTmp(dir)
}

// writeIndexes checks parts (CommitParts) and writes the two indexes and
// ck's files beside them into tmp.
func writeIndexes(tmp string, ck *Checkpoint, parts []Part) error {
	if len(parts) == 0 {
		return errors.New("no parts to commit")
	}
	ts := ck.Config.AllTensors()
	owner := make(map[string]int, len(ts))
	for i, p := range parts {
		if (p.Optimizer == "") != (parts[0].Optimizer == "") {
			return fmt.Errorf("part 1 and part %d differ in whether they hold the AdamW moments; write every part alike", i+1)
		}
		for _, name := range p.Names {
			if j, dup := owner[name]; dup {
				return fmt.Errorf("parts %d and %d both hold tensor %s; each tensor is one part's", j+1, i+1, name)
			}
			owner[name] = i
		}
		if err := sameSize(filepath.Join(tmp, p.Model), p.ModelBytes, i); err != nil {
			return err
		}
		if p.Optimizer != "" {
			if err := sameSize(filepath.Join(tmp, optimizerDir, p.Optimizer), p.OptimizerBytes, i); err != nil {
				return err
			}
		}
	}
	if len(owner) != len(ts) {
		known := make(map[string]bool, len(ts))
		for _, t := range ts {
			known[t.Name] = true
		}
		for name, i := range owner {
			if !known[name] {
				return fmt.Errorf("part %d holds tensor %q, which is not a parameter of %v", i+1, name, ck.Config)
			}
		}
	}
	model := shardIndex{WeightMap: make(map[string]string, len(ts))}
	opt := shardIndex{WeightMap: make(map[string]string, 2*len(ts))}
	for _, t := range ts {
		i, ok := owner[t.Name]
		if !ok {
			return fmt.Errorf("no part holds tensor %s; every tensor of the model must be in one", t.Name)
		}
		model.WeightMap[t.Name] = parts[i].Model
		model.Metadata.TotalSize += 4 * int64(t.Elems())
		opt.WeightMap[mPrefix+t.Name], opt.WeightMap[vPrefix+t.Name] = parts[i].Optimizer, parts[i].Optimizer
		opt.Metadata.TotalSize += 8 * int64(t.Elems())
	}
	if err := writeJSON(filepath.Join(tmp, modelIndex), model); err != nil {
		return err
	}
	if parts[0].Optimizer != "" {
		if err := writeJSON(filepath.Join(tmp, optimizerIndex), opt); err != nil {
			return err
		}
		if err := fsutil.SyncDir(filepath.Join(tmp, optimizerDir)); err != nil {
			return err
		}
	}
	return writeMeta(tmp, ck)
}

// sameSize checks that the file part i's writer wrote is at path, of the
// size it wrote: a writer that sees another directory than the committer's
// (another host's disk) wrote it elsewhere.
func sameSize(path string, want int64, i int) error {
	got, err := fileSize(path)
	switch {
	case err != nil:
		return fmt.Errorf("part %d's %s is not there (%w): every writer of a checkpoint must write into one directory, which a run across hosts needs on a filesystem they share", i+1, path, err)
	case got != want:
		return fmt.Errorf("part %d's %s is %d bytes, but its writer wrote %d: every writer of a checkpoint must write into one directory, which a run across hosts needs on a filesystem they share", i+1, path, got, want)
	}
	return nil
}

// writeJSON writes v as an indented JSON file, fsynced.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteNew(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}
