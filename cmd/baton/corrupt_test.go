// Corrupted checkpoints for the bad-input catalogue: a safetensors rewriter and the damage it does.

package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"baton/model"
)

// stTensor is one tensor of a safetensors file, as stored.
type stTensor struct {
	name  string
	dtype string
	shape []int
	data  []byte
}

type stHeaderEntry struct {
	DType   string `json:"dtype"`
	Shape   []int  `json:"shape"`
	Offsets [2]int `json:"data_offsets"`
}

// readST parses a safetensors file into its tensors (in file order) and metadata.
func readST(t *testing.T, path string) ([]stTensor, json.RawMessage) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := int(binary.LittleEndian.Uint64(b))
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		t.Fatalf("%s: header: %v", path, err)
	}
	body := b[8+n:]
	var ts []stTensor
	var offs []int
	for name, raw := range hdr {
		if name == "__metadata__" {
			continue
		}
		var e stHeaderEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("%s: %s: %v", path, name, err)
		}
		ts = append(ts, stTensor{name: name, dtype: e.DType, shape: e.Shape, data: body[e.Offsets[0]:e.Offsets[1]]})
		offs = append(offs, e.Offsets[0])
	}
	idx := make([]int, len(ts))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return offs[a] - offs[b] })
	sorted := make([]stTensor, len(ts))
	for i, j := range idx {
		sorted[i] = ts[j]
	}
	return sorted, hdr["__metadata__"]
}

// writeST writes tensors contiguously in the given order, as a valid
// safetensors file: the header padded with spaces to 8 bytes.
func writeST(t *testing.T, path string, ts []stTensor, meta json.RawMessage) {
	t.Helper()
	hdr := map[string]any{}
	if meta != nil {
		hdr["__metadata__"] = meta
	}
	var body bytes.Buffer
	for _, x := range ts {
		hdr[x.name] = stHeaderEntry{DType: x.dtype, Shape: x.shape, Offsets: [2]int{body.Len(), body.Len() + len(x.data)}}
		body.Write(x.data)
	}
	h, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	out = append(append(out, h...), body.Bytes()...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// editModel rewrites run/checkpoint/model.safetensors through edit.
func editModel(t *testing.T, dir string, edit func([]stTensor) []stTensor) {
	t.Helper()
	editST(t, filepath.Join(dir, ckModel), edit)
}

// editST rewrites the safetensors file at path through edit.
func editST(t *testing.T, path string, edit func([]stTensor) []stTensor) {
	t.Helper()
	ts, meta := readST(t, path)
	writeST(t, path, edit(ts), meta)
}

// poison sets value i of a tensor in the safetensors file rel to v, a NaN
// or an infinity, as a damaged disk or a diverged writer would leave it.
func poison(rel, name string, i int, v float64) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		editST(t, filepath.Join(dir, rel), func(ts []stTensor) []stTensor {
			for _, x := range ts {
				if x.name == name {
					binary.LittleEndian.PutUint32(x.data[4*i:], math.Float32bits(float32(v)))
				}
			}
			return ts
		})
	}
}

// symlink puts a link to target at rel, in place of what was there.
func symlink(rel, target string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		p := filepath.Join(dir, rel)
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
}

// hugeWeights replaces the run's checkpoint with one whose every weight is
// 3e38: finite, so it loads, but its scores overflow.
func hugeWeights(t *testing.T, dir string) {
	ck := filepath.Join(dir, "run", "checkpoint")
	c, err := model.Load(ck)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range c.Params {
		for i := range p {
			p[i] = 3e38
		}
	}
	c.M, c.V = nil, nil
	if err := model.Save(ck, c); err != nil {
		t.Fatal(err)
	}
}

// withRun puts a copy of the trained tiny run at dir/run and applies damage to it.
func withRun(damage func(t *testing.T, dir string)) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		copyTree(t, trainedRun(t), filepath.Join(dir, "run"))
		if damage != nil {
			damage(t, dir)
		}
	}
}

func dropTensor(name string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		editModel(t, dir, func(ts []stTensor) []stTensor {
			return slices.DeleteFunc(ts, func(x stTensor) bool { return x.name == name })
		})
	}
}

// reshape gives a tensor another shape with as many elements, so only the
// shape check can catch it.
func reshape(name string, shape ...int) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		editModel(t, dir, func(ts []stTensor) []stTensor {
			for i := range ts {
				if ts[i].name == name {
					ts[i].shape = shape
				}
			}
			return ts
		})
	}
}

// asI32 declares a tensor I32, its bytes kept, so the file is a
// well-formed safetensors file whose only fault is the dtype.
func asI32(name string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		editModel(t, dir, func(ts []stTensor) []stTensor {
			for i := range ts {
				if ts[i].name == name {
					ts[i].dtype = "I32" // the same bytes, read as integers
				}
			}
			return ts
		})
	}
}

// overwrite writes b at offset off of a file under dir.
func overwrite(rel string, off int64, b []byte) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		f, err := os.OpenFile(filepath.Join(dir, rel), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
}

func truncateHalf(rel string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		p := filepath.Join(dir, rel)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, fi.Size()/2); err != nil {
			t.Fatal(err)
		}
	}
}

func remove(rel string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		if err := os.Remove(filepath.Join(dir, rel)); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(rel string, b []byte) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// configField sets one field of run/checkpoint/config.json.
func configField(key string, v any) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		p := filepath.Join(dir, "run", "checkpoint", "config.json")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		m[key] = v
		if b, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
		writeFile("run/checkpoint/config.json", b)(t, dir)
	}
}

// TestRewrittenCheckpointLoads guards the corruption cases: rewriting
// model.safetensors without an edit must leave a checkpoint that loads, so a
// corrupted one fails for its damage and not for the rewriter's.
func TestRewrittenCheckpointLoads(t *testing.T) {
	dir := t.TempDir()
	withRun(func(t *testing.T, dir string) {
		editModel(t, dir, func(ts []stTensor) []stTensor { return ts })
	})(t, dir)
	ck, err := model.Load(filepath.Join(dir, "run", "checkpoint"))
	if err != nil {
		t.Fatalf("an unedited rewrite does not load: %v", err)
	}
	if ck.Config != model.Presets["tiny"] {
		t.Fatalf("config %v, want the tiny preset %v", ck.Config, model.Presets["tiny"])
	}
}
