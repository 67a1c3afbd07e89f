// Reading sharded tensors: a model split over several safetensors files named by an index, as transformers shards a large model and as a run's ranks each write their part.

package model

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
)

// The indexes of sharded tensors, in transformers' format (shardIndex):
// the model's beside config.json, the moments' in the optimizer directory.
// A shard's file name in an index is relative to the index's directory.
const (
	modelIndex     = "model.safetensors.index.json"
	optimizerIndex = optimizerDir + "/optimizer.safetensors.index.json"

	// An index lists a few hundred names: GPT-2 1558M's is 40 KB.
	maxIndexBytes = 16 << 20
)

// shardIndex is the index transformers writes beside sharded weights
// (save_pretrained) and reads (from_pretrained): the bytes of all tensors,
// and the file holding each tensor by its stored name.
type shardIndex struct {
	Metadata struct {
		TotalSize int64 `json:"total_size"`
	} `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// storedName maps a tensor's name as a file stores it to the name want
// uses, or says it is no tensor to read (false): a checkpoint of baton's
// own names each tensor as want does; one saved by transformers may add
// a prefix and buffers (hfStored).
type storedName func(name string) (string, bool)

// asIs is the storedName of baton's own files.
func asIs(name string) (string, bool) { return name, true }

// hfStored is the storedName of files transformers saved.
func hfStored(name string) (string, bool) {
	n := strings.TrimPrefix(name, hfPrefix)
	return n, !hfSkipped(n)
}

// readTensors reads want's tensors from dir's file single (such as
// model.safetensors), or, where there is none, from the shards that the
// index names; both at once is refused, as nothing says which is current.
// read reads one file's share of want. Every tensor is read and checked;
// only those keep names are returned (nil keeps all).
func readTensors(dir, single, index string, want []Tensor, c Config, stored storedName, read func(path string, want []Tensor, c Config) (map[string][]float32, error), keep func(string) bool) (map[string][]float32, error) {
	indexPath := filepath.Join(dir, index)
	sharded, err := present(indexPath, false, "")
	if err != nil {
		return nil, err
	}
	singlePath := filepath.Join(dir, single)
	if !sharded {
		all, err := read(singlePath, want, c)
		return kept(all, keep), err
	}
	if both, err := present(singlePath, false, ""); err != nil || both {
		return nil, cmp.Or(err, fmt.Errorf("checkpoint %s: holds both %s and the shards of %s; which is current is unknown: remove the stale one", dir, single, index))
	}
	files, err := readIndex(indexPath, want, c, stored)
	if err != nil {
		return nil, err
	}
	// Every shard is there before any is read: a tensor the index puts in
	// a missing shard, found in another, is the missing shard's error.
	names := slices.Sorted(maps.Keys(files))
	for _, f := range names {
		path := filepath.Join(filepath.Dir(indexPath), f)
		if ok, err := present(path, false, ""); err != nil || !ok {
			return nil, cmp.Or(err, fmt.Errorf("checkpoint %s: missing, though %s names it for %s and %d more tensors; the checkpoint is incomplete", path, index, files[f][0].Name, len(files[f])-1))
		}
	}
	out := make(map[string][]float32, len(want))
	for _, f := range names {
		path := filepath.Join(filepath.Dir(indexPath), f)
		part, err := read(path, files[f], c)
		if err != nil {
			return nil, err
		}
		for name, v := range kept(part, keep) {
			out[name] = v
		}
	}
	return out, nil
}

// kept is the tensors of a file's read that keep names (nil: all). Where
// it drops some, those kept are copied: they may be views of the whole
// file's buffer (f32Alias), which would stay held for them.
func kept(read map[string][]float32, keep func(string) bool) map[string][]float32 {
	if keep == nil || read == nil {
		return read
	}
	out := make(map[string][]float32)
	for name, v := range read {
		if keep(name) {
			out[name] = v
		}
	}
	if len(out) < len(read) {
		for name, v := range out {
			out[name] = slices.Clone(v)
		}
	}
	return out
}

// readIndex reads the index at path and groups want by the shard that
// holds each tensor. Every tensor of want must be listed once, and nothing
// else but what stored skips; each shard must be a file beside the index.
func readIndex(path string, want []Tensor, c Config, stored storedName) (map[string][]Tensor, error) {
	raw, err := readCapped(path, maxIndexBytes)
	if err != nil {
		return nil, err
	}
	var ix shardIndex
	if err := json.Unmarshal(raw, &ix); err != nil {
		return nil, fmt.Errorf("checkpoint %s: not a shard index (%v); it must be JSON such as {\"weight_map\": {\"wte.weight\": \"model-00001-of-00002.safetensors\", ...}}", path, err)
	}
	wanted := make(map[string]Tensor, len(want))
	for _, t := range want {
		wanted[t.Name] = t
	}
	files := map[string][]Tensor{}
	seen := map[string]string{} // want's name → its stored name
	for _, name := range slices.Sorted(maps.Keys(ix.WeightMap)) {
		file := ix.WeightMap[name]
		if file != filepath.Base(file) || file == "." || file == ".." || !strings.HasSuffix(file, ".safetensors") {
			return nil, fmt.Errorf("checkpoint %s: tensor %s is in %q; an index names .safetensors files beside it", path, name, file)
		}
		n, ok := stored(name)
		if !ok {
			continue
		}
		t, known := wanted[n]
		if !known {
			return nil, fmt.Errorf("checkpoint %s: unexpected tensor %s; config.json (%v) has no such parameter: the shards hold another model", path, name, c)
		}
		if prev, dup := seen[n]; dup {
			return nil, fmt.Errorf("checkpoint %s: tensors %s and %s are the same parameter; keep one", path, prev, name)
		}
		seen[n] = name
		files[file] = append(files[file], t)
	}
	for _, t := range want {
		if _, ok := seen[t.Name]; !ok {
			return nil, fmt.Errorf("checkpoint %s: names no shard for tensor %s; the index and config.json (%v) describe different models", path, t.Name, c)
		}
	}
	return files, nil
}
