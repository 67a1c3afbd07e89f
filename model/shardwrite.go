// Writing a checkpoint in parts: each writer (a run's rank) writes the shards of its own tensors, and one commits them under an index, whole or not at all.

package model

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"baton/internal/fsutil"
)

// A Part is what one writer of a checkpoint wrote into <dir>.tmp
// (WritePart): its files and their sizes, for the committer to check that
// it sees them whole, and the parameters in them, for the index.
type Part struct {
	Writer     string // who wrote it, for messages ("rank 1"); "" names it by its number
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

// begunFile, in <dir>.tmp while its parts are written, holds the token
// BeginParts made: a writer that does not find it there sees another
// directory than the first writer's (another host's disk, or an older
// save's leftovers).
const begunFile = ".begun"

// BeginParts starts a checkpoint of dir written in parts: it makes
// <dir>.tmp afresh (removing an interrupted save's) with its optimizer
// directory, which every writer's WritePart writes into, and which
// CommitParts makes the checkpoint. One writer (a run's rank 0) calls it
// before any other writes, and hands the token it returns to the others.
func BeginParts(dir string) (token string, err error) {
	if dir, err = cleanDir(dir); err != nil {
		return "", err
	}
	tmp, err := beginTmp(dir)
	if err != nil {
		return "", err
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", removeOnError(tmp, err)
	}
	token = hex.EncodeToString(b[:])
	if err := removeOnError(tmp, os.Mkdir(filepath.Join(tmp, optimizerDir), 0o755)); err != nil {
		return "", err
	}
	if err := removeOnError(tmp, fsutil.WriteNew(filepath.Join(tmp, begunFile), func(w io.Writer) error {
		_, err := io.WriteString(w, token)
		return err
	})); err != nil {
		return "", err
	}
	return token, removeOnError(tmp, fsutil.SyncDir(tmp))
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

// WritePart writes part k (1 to n) of a checkpoint of c into <dir>.tmp,
// which must hold BeginParts' token: params and their AdamW moments m and
// v (both or neither), any of c's tensors, each finite, as the shards
// model-k-of-n and optimizer/optimizer-k-of-n. The files are fsynced. The
// other parts' writers may write at once; their tensors must be others.
func WritePart(dir, token string, k, n int, c Config, params, m, v map[string][]float32) (Part, error) {
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
	if got, err := os.ReadFile(filepath.Join(tmp, begunFile)); err != nil || string(got) != token {
		why := "it holds another save's token"
		if err != nil {
			why = err.Error()
		}
		return Part{}, fmt.Errorf("checkpoint %s: %s is not the directory this save's first writer made (%s): every writer of a checkpoint must write into one directory, which a run across hosts needs on a filesystem they share", dir, tmp, why)
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
	return ts, checkTensors(ts, params, m, v)
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
	tmp := dir + tmpSuffix
	err = ck.Config.Validate()
	if err == nil {
		err = checkExtra(ck.Extra)
	}
	if err == nil {
		err = checkState(ck.State)
	}
	if err == nil {
		err = writeIndexes(tmp, ck, parts)
	}
	if err := removeOnError(tmp, err); err != nil {
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
			return fmt.Errorf("%s and %s differ in whether they hold the AdamW moments; write every part alike", partName(parts, 0), partName(parts, i))
		}
		for _, name := range p.Names {
			if j, dup := owner[name]; dup {
				return fmt.Errorf("%s and %s both hold tensor %s; each tensor is one part's", partName(parts, j), partName(parts, i), name)
			}
			owner[name] = i
		}
		if err := sameSize(filepath.Join(tmp, p.Model), p.ModelBytes, partName(parts, i)); err != nil {
			return err
		}
		if p.Optimizer != "" {
			if err := sameSize(filepath.Join(tmp, optimizerDir, p.Optimizer), p.OptimizerBytes, partName(parts, i)); err != nil {
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
				return fmt.Errorf("%s holds tensor %q, which is not a parameter of %v", partName(parts, i), name, ck.Config)
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
	} else if err := os.Remove(filepath.Join(tmp, optimizerDir)); err != nil { // BeginParts made it, empty
		return err
	}
	if err := os.Remove(filepath.Join(tmp, begunFile)); err != nil {
		return err
	}
	return writeMeta(tmp, ck)
}

// partName names part i of parts for a message: by its writer, else its number.
func partName(parts []Part, i int) string {
	if parts[i].Writer != "" {
		return parts[i].Writer
	}
	return fmt.Sprintf("part %d", i+1)
}

// sameSize checks that the file a part's writer (who) wrote is at path, of
// the size it wrote: a writer that sees another directory than the
// committer's (another host's disk) wrote it elsewhere.
func sameSize(path string, want int64, who string) error {
	got, err := fileSize(path)
	switch {
	case err != nil:
		return fmt.Errorf("%s's %s is not there (%w): every writer of a checkpoint must write into one directory, which a run across hosts needs on a filesystem they share", who, path, err)
	case got != want:
		return fmt.Errorf("%s's %s is %d bytes, but its writer wrote %d: every writer of a checkpoint must write into one directory, which a run across hosts needs on a filesystem they share", who, path, got, want)
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
