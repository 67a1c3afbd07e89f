// Tests that a checkpoint which is not what it claims (a file missing, a bad state, a NaN) is refused or, with <dir>.old beside it, replaced with a warning, and that neither changes a file.

package model

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"
)

// snapshotTree maps every path under root to its type and, for a regular
// file, a hash of its content; it never opens anything else.
func snapshotTree(t *testing.T, root string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			snap[p] = d.Type().String()
			return nil
		}
		b, err := os.ReadFile(p)
		snap[p] = fmt.Sprintf("%x", sha256.Sum256(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// unchanged fails the test if root differs from before.
func unchanged(t *testing.T, root string, before map[string]string) {
	t.Helper()
	after := snapshotTree(t, root)
	for p, h := range before {
		if after[p] != h {
			t.Errorf("%s changed (%q → %q)", p, h, after[p])
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s was created", p)
		}
	}
}

// loaders are both ways to read a checkpoint: each must refuse the damage.
var loaders = map[string]func(string) (*Checkpoint, error){"Load": Load, "LoadResume": LoadResume}

// loadersOf are the loaders that read file: Load reads no AdamW moments.
func loadersOf(file string) map[string]func(string) (*Checkpoint, error) {
	if file == optimizerFile || file == legacyOptimizerFile {
		return map[string]func(string) (*Checkpoint, error){"LoadResume": LoadResume}
	}
	return loaders
}

// TestLoadReadsNoMoments: Load, for the weights alone, does not read the
// AdamW moments (twice the weights' bytes), so damage there does not stop
// a sample; LoadResume still refuses it.
func TestLoadReadsNoMoments(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	want := tinyCheckpoint(1)
	mustSave(t, dir, want)
	writeFile(t, filepath.Join(dir, optimizerFile), []byte("not safetensors"))
	got, err := Load(dir)
	if err != nil {
		t.Fatalf("Load with damaged moments: %v", err)
	}
	if got.M != nil || got.V != nil {
		t.Errorf("Load read the moments")
	}
	sameTensors(t, "Params", got.Params, want.Params)
	if _, err := LoadResume(dir); err == nil {
		t.Errorf("LoadResume accepted damaged moments")
	}
}

func TestLoadResumeNeedsEveryFile(t *testing.T) {
	for file, want := range map[string]string{
		optimizerFile: "missing; resuming needs the AdamW moments it holds",
		stateFile:     "missing; resuming needs the training step, seed and data position it holds",
	} {
		t.Run(file, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "ckpt")
			mustSave(t, dir, tinyCheckpoint(1))
			if err := os.Remove(filepath.Join(dir, file)); err != nil {
				t.Fatal(err)
			}
			before := snapshotTree(t, root)
			_, err := LoadResume(dir)
			prefix := "checkpoint " + filepath.Join(dir, file) + ": "
			if err == nil || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), want) {
				t.Fatalf("LoadResume = %v, want an error starting %q and saying %q", err, prefix, want)
			}
			// The weights alone still load, for sampling or export.
			if _, err := Load(dir); err != nil {
				t.Errorf("Load without %s: %v", file, err)
			}
			unchanged(t, root, before)
		})
	}
}

func TestLoadRefusesBadState(t *testing.T) {
	cases := map[string]string{
		`{}`:                 `has no "step"`,
		`null`:               "is not a JSON object",
		`[]`:                 "is not a JSON object",
		`"step"`:             "is not a JSON object",
		`{"Step": 3}`:        `has no "step"`,
		`{"step":  null }`:   `has "step": null, not a whole number`,
		`{"step": 0}`:        `has "step": 0; a checkpoint holds at least one training step`,
		`{"step": -3}`:       `has "step": -3`,
		`{"step": 1.5}`:      `has "step": 1.5, not a whole number`,
		`{"step": "3"}`:      `has "step": "3", not a whole number`,
		`{"step": 1e99}`:     `has "step": 1e99, not a whole number`,
		`{"step": 3} {}`:     "not valid JSON",
		`{"step": 3`:         "not valid JSON",
		"":                   "not valid JSON",
		`{"step": 3, "seed"`: "not valid JSON",
	}
	for state, want := range cases {
		for name, load := range loaders {
			t.Run(name+"/"+state, func(t *testing.T) {
				root := t.TempDir()
				dir := filepath.Join(root, "ckpt")
				mustSave(t, dir, tinyCheckpoint(1))
				writeFile(t, filepath.Join(dir, stateFile), []byte(state))
				before := snapshotTree(t, root)
				_, err := load(dir)
				prefix := "checkpoint " + filepath.Join(dir, stateFile) + ": "
				if err == nil || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), want) {
					t.Fatalf("%s = %v, want an error starting %q and saying %q", name, err, prefix, want)
				}
				unchanged(t, root, before)
			})
		}
	}
}

// f32Bytes is vals as a safetensors F32 payload.
func f32Bytes(vals []float32) []byte {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func TestLoadRefusesNonFinite(t *testing.T) {
	c := Presets["tiny"]
	cases := []struct {
		file, tensor string
		shape        []uint64
		at           int
		v            float64
		want         string
	}{
		{modelFile, "wte.weight", []uint64{uint64(c.V), uint64(c.C)}, 100, math.NaN(), "tensor wte.weight holds NaN at index 100 of 8192"},
		{modelFile, "h.1.mlp.c_proj.bias", []uint64{uint64(c.C)}, 0, math.Inf(1), "tensor h.1.mlp.c_proj.bias holds +Inf at index 0 of 32"},
		{optimizerFile, "m.ln_f.weight", []uint64{uint64(c.C)}, 31, math.Inf(-1), "tensor m.ln_f.weight holds -Inf at index 31 of 32"},
		{optimizerFile, "v.h.0.ln_1.bias", []uint64{uint64(c.C)}, 5, math.NaN(), "tensor v.h.0.ln_1.bias holds NaN at index 5 of 32"},
	}
	for _, tc := range cases {
		for name, load := range loadersOf(tc.file) {
			t.Run(name+"/"+tc.tensor, func(t *testing.T) {
				root := t.TempDir()
				dir := filepath.Join(root, "ckpt")
				mustSave(t, dir, tinyCheckpoint(1))
				path := filepath.Join(dir, tc.file)
				editTensors(t, path, func(v map[string]safetensors.TensorView) {
					vals := make([]float32, len(v[tc.tensor].Data())/4)
					vals[tc.at] = float32(tc.v)
					tv, err := safetensors.NewTensorView(safetensors.F32, tc.shape, f32Bytes(vals))
					if err != nil {
						t.Fatal(err)
					}
					v[tc.tensor] = tv
				})
				before := snapshotTree(t, root)
				_, err := load(dir)
				prefix := "checkpoint " + path + ": "
				if err == nil || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("%s = %v, want an error starting %q and saying %q", name, err, prefix, tc.want)
				}
				unchanged(t, root, before)
			})
		}
	}
}

// TestSaveNonFiniteKeepsPrevious: a checkpoint holding a NaN is not
// written, and the one it would have replaced stays as it was.
func TestSaveNonFiniteKeepsPrevious(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "ckpt")
	mustSave(t, dir, tinyCheckpoint(1))
	before := snapshotTree(t, root)
	bad := tinyCheckpoint(2)
	bad.M["h.0.attn.c_attn.weight"][7] = float32(math.NaN())
	err := Save(dir, bad)
	want := "checkpoint " + dir + ": M[h.0.attn.c_attn.weight][7] is NaN"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Save = %v, want an error starting %q", err, want)
	}
	unchanged(t, root, before)
}

// TestLoadFallbackWarns: a damaged checkpoint with the previous one beside
// it loads the previous one and says which file was wrong and which step
// is lost; an intact one says nothing.
func TestLoadFallbackWarns(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   []string
	}{
		{"truncated tensors", func(t *testing.T, dir string) {
			p := filepath.Join(dir, modelFile)
			b, _ := os.ReadFile(p)
			writeFile(t, p, b[:len(b)/2])
		}, []string{"checkpoint " + modelFile + ": not a valid safetensors file", "at step 1: the checkpoint of step 2 is lost"}},
		{"missing optimizer", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, optimizerFile)) },
			[]string{"checkpoint " + optimizerFile + ": missing; resuming needs", "at step 1: the checkpoint of step 2 is lost"}},
		{"bad state", func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, stateFile), []byte("{}")) },
			[]string{"checkpoint " + stateFile + `: has no "step"`, "at step 1: the newer checkpoint is lost"}},
		{"missing directory", func(t *testing.T, dir string) { os.RemoveAll(dir) },
			[]string{"checkpoint ckpt is missing (a save was interrupted); using the previous checkpoint ckpt.old instead, at step 1: the newer checkpoint is lost"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			t.Chdir(root) // relative paths, so the messages are the same everywhere
			mustSave(t, "ckpt", tinyCheckpoint(2))
			mustSave(t, "ckpt"+oldSuffix, tinyCheckpoint(1)) // after: a Save removes <dir>.old
			tc.damage(t, "ckpt")
			before := snapshotTree(t, root)
			got, err := LoadResume("ckpt")
			if err != nil {
				t.Fatal(err)
			}
			sameCheckpoint(t, got, tinyCheckpoint(1))
			if len(got.Warnings) != 1 {
				t.Fatalf("Warnings = %q, want one", got.Warnings)
			}
			w := got.Warnings[0]
			for _, s := range tc.want {
				if !strings.Contains(w, strings.ReplaceAll(s, "checkpoint ", "checkpoint ckpt/")) && !strings.Contains(w, s) {
					t.Errorf("warning %q does not say %q", w, s)
				}
			}
			if !strings.Contains(w, "using the previous checkpoint ckpt.old instead") || strings.Contains(w, "\n") {
				t.Errorf("warning %q does not name ckpt.old on one line", w)
			}
			unchanged(t, root, before)
		})
	}
	dir := filepath.Join(t.TempDir(), "ckpt")
	mustSave(t, dir, tinyCheckpoint(1))
	if got, err := LoadResume(dir); err != nil || len(got.Warnings) != 0 {
		t.Errorf("an intact checkpoint: %v, warnings %q", err, got.Warnings)
	}
}

// TestSaveAfterFallbackKeepsOld: after Load fell back to <dir>.old because
// dir is damaged, the next Save, stopped at any step, still leaves a
// checkpoint that loads: it never removes .old before the new one is in place.
func TestSaveAfterFallbackKeepsOld(t *testing.T) {
	for _, step := range []string{"files", "written", "moved-old", "renamed", "synced", ""} {
		t.Run("crash at "+step, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ckpt")
			mustSave(t, dir, tinyCheckpoint(2))
			mustSave(t, dir+oldSuffix, tinyCheckpoint(1))
			writeFile(t, filepath.Join(dir, modelFile), []byte("damaged"))
			saveHook = func(s string) error {
				if s == step {
					return fmt.Errorf("simulated crash at %s", s)
				}
				return nil
			}
			err := Save(dir, tinyCheckpoint(3))
			saveHook = nil
			if (err != nil) != (step != "") {
				t.Fatalf("Save = %v", err)
			}
			got, err := LoadResume(dir)
			if err != nil {
				t.Fatalf("no checkpoint loads after a crash at %q: %v", step, err)
			}
			if got.RecoveredFrom == "" {
				sameCheckpoint(t, got, tinyCheckpoint(3))
			} else {
				sameCheckpoint(t, got, tinyCheckpoint(1))
			}
		})
	}
}
