// A checkpoint of the older layout, AdamW moments beside the model, resumes exactly and is saved in the new one.

package runtime

import (
	"os"
	"path/filepath"
	"testing"

	"baton/model"
)

func TestResumeLegacyLayoutIsExact(t *testing.T) {
	data := corpus(t)
	dir := t.TempDir()
	const n = 3
	whole := train(t, resumeConfig(t, data, filepath.Join(dir, "whole"), "cpu:0,cpu:1", 2*n), 0)
	want, err := model.LoadResume(CheckpointDir(filepath.Join(dir, "whole")))
	if err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "run")
	train(t, resumeConfig(t, data, out, "cpu:0,cpu:1", 2*n), n)
	ck := CheckpointDir(out)
	// Rewrite the checkpoint as baton saved it before the moments moved.
	if err := os.Rename(filepath.Join(ck, "optimizer", "optimizer.safetensors"), filepath.Join(ck, "optimizer.safetensors")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(ck, "optimizer")); err != nil {
		t.Fatal(err)
	}

	cfg := resumeConfig(t, data, out, "cpu:0,cpu:1", 2*n)
	cfg.Resume = true
	second := train(t, cfg, 0)
	if second.StartStep != n || len(second.Losses) != len(whole.Losses) {
		t.Fatalf("resumed at step %d with %d losses, want step %d and %d", second.StartStep, len(second.Losses), n, len(whole.Losses))
	}
	for i, w := range whole.Losses {
		if second.Losses[i] != w {
			t.Errorf("step %d: loss %v, uninterrupted %v", i+1, second.Losses[i], w)
		}
	}
	if _, err := os.Stat(filepath.Join(ck, "optimizer.safetensors")); !os.IsNotExist(err) {
		t.Errorf("the resumed run's checkpoint still has the old layout's optimizer.safetensors (stat: %v)", err)
	}
	got, err := model.LoadResume(ck)
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range want.Params {
		for j := range w {
			if got.Params[name][j] != w[j] || got.M[name][j] != want.M[name][j] || got.V[name][j] != want.V[name][j] {
				t.Fatalf("%s[%d] differs from the uninterrupted run's", name, j)
			}
		}
	}
}
