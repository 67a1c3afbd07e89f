// --init-from: a new run starts at step 0 with fresh moments on another run's weights, which evaluate exactly as they did at that run's end.

package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"baton/internal/field"
	"baton/model"
)

// TestInitFromEvaluatesAsTheRunEnded: the first thing the new run can
// compute on its weights, the validation loss on the same batches, equals
// bit for bit the last evaluation of the run it starts from: the same
// weights, batches and kernels give the same sums in the same order. The
// weights come through the run directory and through a bare checkpoint
// directory (read as a Hugging Face one), on another split of devices.
func TestInitFromEvaluatesAsTheRunEnded(t *testing.T) {
	data, dir := corpus(t), t.TempDir()
	from := filepath.Join(dir, "from")
	orig := resumeConfig(t, data, from, "cpu:0,cpu:1", 3)
	ended := train(t, orig, 0)
	for _, src := range []string{from, CheckpointDir(from)} {
		cfg := resumeConfig(t, data, filepath.Join(t.TempDir(), "run"), "cpu:0..3", 3)
		cfg.Model, cfg.Context, cfg.InitFrom = model.Config{}, 0, src
		tr, err := NewTrainer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if tr.StartStep() != 0 || tr.Config().Model != orig.Model || tr.Config().Preset != "custom" {
			t.Errorf("%s: start step %d, model %v (%s), want 0 and %v", src, tr.StartStep(), tr.Config().Model, tr.Config().Preset, orig.Model)
		}
		loss, err := tr.evaluate(context.Background(), tr.stepInput())
		if err != nil {
			t.Fatal(err)
		}
		if loss != *ended.ValLoss {
			t.Errorf("%s: first evaluation %v, want the run's last %v", src, loss, *ended.ValLoss)
		}
		ck, err := gather(tr.stages, tr.cfg.Model, TrainState{Step: 1})
		if err != nil {
			t.Fatal(err)
		}
		for name, m := range ck.M {
			if i := slicesIndexNonZero(m); i >= 0 || slicesIndexNonZero(ck.V[name]) >= 0 {
				t.Fatalf("%s: the AdamW moments of %s are not fresh", src, name)
			}
		}
		tr.Close()
	}
}

func slicesIndexNonZero(v []float32) int {
	for i, x := range v {
		if x != 0 {
			return i
		}
	}
	return -1
}

func TestInitFromRefusesAnotherModel(t *testing.T) {
	data, dir := corpus(t), t.TempDir()
	from := filepath.Join(dir, "from")
	train(t, resumeConfig(t, data, from, "cpu:0", 1), 0)
	cfg := resumeConfig(t, data, filepath.Join(dir, "run"), "cpu:0", 1)
	cfg.InitFrom = from
	cfg.Model.L = 3
	_, err := NewTrainer(cfg)
	var fe *field.Error
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "holds the model V=256 T=16 C=16 NH=2 L=4, which differs from the one asked for (V=256 T=16 C=16 NH=2 L=3)") {
		t.Fatalf("error %v, want the init-from field naming both models", err)
	}
}

// TestInitFromAnInterruptedSave: a run holding only checkpoint.old, as an
// interrupted save leaves it, starts a new run as it resumes: from the
// .old, with the warning that says so.
func TestInitFromAnInterruptedSave(t *testing.T) {
	data, dir := corpus(t), t.TempDir()
	from := filepath.Join(dir, "from")
	orig := resumeConfig(t, data, from, "cpu:0", 1)
	train(t, orig, 0)
	if err := os.Rename(CheckpointDir(from), CheckpointDir(from)+".old"); err != nil {
		t.Fatal(err)
	}
	cfg := resumeConfig(t, data, filepath.Join(dir, "run"), "cpu:0", 1)
	cfg.Model, cfg.Context, cfg.InitFrom = model.Config{}, 0, from
	tr, err := NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if w := tr.Warnings(); tr.Config().Model != orig.Model || len(w) != 1 || !strings.Contains(w[0], "using the previous checkpoint "+CheckpointDir(from)+".old") {
		t.Errorf("model %v, warnings %q; want %v and one naming %s.old", tr.Config().Model, w, orig.Model, CheckpointDir(from))
	}
}

// TestSettingsOfAVocabularyNoPresetHas: a model no preset has the
// vocabulary of records no preset, which --model would refuse read back;
// one derived from a preset records it.
func TestSettingsOfAVocabularyNoPresetHas(t *testing.T) {
	custom := TrainConfig{Preset: "custom", Model: model.Config{V: 384, MaxT: 16, C: 32, NH: 4, L: 2}}
	tiny := TrainConfig{Preset: "custom", PresetBase: "tiny", Model: model.Config{V: 256, MaxT: 16, C: 32, NH: 4, L: 3}}
	if a, b := custom.Settings().Model, tiny.Settings().Model; a != "" || b != "tiny" {
		t.Errorf("Settings().Model is %q and %q, want none and tiny", a, b)
	}
}
