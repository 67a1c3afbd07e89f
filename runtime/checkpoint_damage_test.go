// Checkpoints that are not what they claim, seen by a run and by sampling: refused naming the file, or replaced by checkpoint.old with a warning; never saved with a NaN.

package runtime

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"baton/model"
)

// trainedOut is a run directory trained for steps steps on two devices.
func trainedOut(t *testing.T, data string, steps int) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "run")
	train(t, resumeConfig(t, data, out, "cpu:0,cpu:1", steps), 0)
	return out
}

func readAll(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		files[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func sameFiles(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	after := readAll(t, dir)
	if len(after) != len(before) {
		t.Errorf("%d files under %s, %d before", len(after), dir, len(before))
	}
	for p, b := range before {
		if after[p] != b {
			t.Errorf("%s changed", p)
		}
	}
}

func TestResumeRefusesIncompleteCheckpoint(t *testing.T) {
	data := corpus(t)
	base := trainedOut(t, data, 2)
	cases := []struct {
		name   string
		damage func(ck string)
		want   string
	}{
		{"no optimizer", func(ck string) { os.RemoveAll(filepath.Join(ck, "optimizer")) }, "optimizer/optimizer.safetensors: missing; resuming needs the AdamW moments"},
		{"no state", func(ck string) { os.Remove(filepath.Join(ck, "state.json")) }, "state.json: missing; resuming needs the training step"},
		{"empty state", func(ck string) { os.WriteFile(filepath.Join(ck, "state.json"), []byte("{}"), 0o644) }, `state.json: has no "step"`},
		{"null state", func(ck string) { os.WriteFile(filepath.Join(ck, "state.json"), []byte("null"), 0o644) }, "state.json: is not a JSON object"},
		{"no seed", func(ck string) { os.WriteFile(filepath.Join(ck, "state.json"), []byte(`{"step": 2}`), 0o644) }, `state.json has no "seed"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			copyDir(t, base, out)
			tc.damage(CheckpointDir(out))
			before := readAll(t, out)
			cfg := resumeConfig(t, data, out, "cpu:0,cpu:1", 4)
			cfg.Resume = true
			_, err := NewTrainer(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "resume: ") {
				t.Fatalf("NewTrainer = %v, want a resume error saying %q", err, tc.want)
			}
			sameFiles(t, out, before)
		})
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	for p, b := range readAll(t, src) {
		rel, _ := filepath.Rel(src, p)
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, rel), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestResumeFallbackWarns: a truncated model.safetensors with the previous
// checkpoint beside it resumes from that one, and the trainer says so.
func TestResumeFallbackWarns(t *testing.T) {
	data := corpus(t)
	out := trainedOut(t, data, 3)
	ck := CheckpointDir(out)
	copyDir(t, trainedOut(t, data, 2)+"/checkpoint", ck+".old")
	p := filepath.Join(ck, "model.safetensors")
	b, _ := os.ReadFile(p)
	if err := os.WriteFile(p, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	tr := resumedFromOld(t, data, out)
	w := tr.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], p+": not a valid safetensors file") ||
		!strings.Contains(w[0], "using the previous checkpoint "+ck+".old instead, at step 2: the checkpoint of step 3 is lost") {
		t.Errorf("Warnings = %q; want one naming %s and the steps", w, p)
	}
}

// TestResumeFromOldAlone: a Save killed between moving the checkpoint
// aside and renaming the new one in leaves checkpoint.old alone; the
// resume takes it, rather than say the run has no checkpoint.
func TestResumeFromOldAlone(t *testing.T) {
	data := corpus(t)
	out := trainedOut(t, data, 2)
	ck := CheckpointDir(out)
	if err := os.Rename(ck, ck+".old"); err != nil {
		t.Fatal(err)
	}
	resumedFromOld(t, data, out)
}

// resumedFromOld resumes out, checking it starts at step 2, checkpoint.old's.
func resumedFromOld(t *testing.T, data, out string) *Trainer {
	t.Helper()
	cfg := resumeConfig(t, data, out, "cpu:0,cpu:1", 4)
	cfg.Resume = true
	tr, err := NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	if tr.StartStep() != 2 {
		t.Errorf("resumed at step %d, want 2 (checkpoint.old's)", tr.StartStep())
	}
	return tr
}

// TestSaveRefusesNonFiniteParams: a run whose weights hold a NaN does not
// replace its last checkpoint.
func TestSaveRefusesNonFiniteParams(t *testing.T) {
	data := corpus(t)
	out := trainedOut(t, data, 2)
	cfg := resumeConfig(t, data, out, "cpu:0,cpu:1", 4)
	cfg.Resume = true
	tr, err := NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	s := tr.stages[1].Stack
	i := s.P.Index("ln_f.weight")
	v := s.Read(s.P, i)
	v[3] = float32(math.NaN())
	s.Write(s.P, i, v)
	before := readAll(t, out)
	err = tr.save(3)
	if err == nil || !strings.Contains(err.Error(), "step 3: checkpoint "+CheckpointDir(out)+": Params[ln_f.weight][3] is NaN: a checkpoint is never written with a non-finite value, so the previous checkpoint is kept; the training diverged: lower lr") {
		t.Fatalf("save = %v, want it refused naming ln_f.weight", err)
	}
	sameFiles(t, out, before)
}

// TestSampleRefusesNonFinite: sampling prints nothing from a checkpoint
// with a NaN (refused at load) or with weights so large that the scores
// overflow.
func TestSampleRefusesNonFinite(t *testing.T) {
	data := corpus(t)
	ck, err := model.Load(CheckpointDir(trainedOut(t, data, 2)))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		value float32 // every weight
		poke  bool    // then wte.weight[0] set to NaN in the file
		want  string
	}{
		{"NaN", 0.5, true, "tensor wte.weight holds NaN at index 0"},
		{"huge", 3e38, false, "scores for the next byte are not finite numbers"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ckpt")
			if err := model.Save(dir, &model.Checkpoint{Config: ck.Config, Params: fill(ck.Params, tc.value)}); err != nil {
				t.Fatal(err)
			}
			if tc.poke {
				pokeNaN(t, filepath.Join(dir, "model.safetensors"), "wte.weight")
			}
			var w bytes.Buffer
			err := Sample(SampleConfig{Checkpoint: dir, Prompt: "abc", Tokens: 4}, &w)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Sample = %v, want an error saying %q", err, tc.want)
			}
			if w.Len() != 0 {
				t.Errorf("Sample printed %q", w.String())
			}
		})
	}
}

// fill is a copy of params with every value v.
func fill(params map[string][]float32, v float32) map[string][]float32 {
	out := map[string][]float32{}
	for name, p := range params {
		q := make([]float32, len(p))
		for i := range q {
			q[i] = v
		}
		out[name] = q
	}
	return out
}

// pokeNaN overwrites the first value of tensor in a safetensors file with
// a NaN, as a damaged disk or a diverged writer would leave it.
func pokeNaN(t *testing.T, path, tensor string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var hdr map[string]struct {
		Offsets [2]uint64 `json:"data_offsets"`
	}
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(b[8+n+hdr[tensor].Offsets[0]:], math.Float32bits(float32(math.NaN())))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
