//go:build cuda

// A re-split on CUDA partitions: parameters and moments carried by name between devices, and the run goes on exactly as one split that way from the start.

package runtime

import (
	"path/filepath"
	"testing"

	"baton/model"
)

// stepsOn trains steps from..to of tr's run by hand.
func stepsOn(t *testing.T, tr *Trainer, from, to int) []float64 {
	t.Helper()
	in := tr.stepInput()
	var losses []float64
	for step := from; step <= to; step++ {
		in.AdamStep, in.Adam.LR = step, tr.cfg.LR
		res, err := tr.trainStep(in, nil)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, res.Loss)
	}
	return losses
}

func TestCUDAResplitTrainsAsTheNewSplitThroughout(t *testing.T) {
	data := corpus(t)
	cfg := resumeConfig(t, data, filepath.Join(t.TempDir(), "moved"), "cuda:0/4", 6)
	cfg.Model.L, cfg.Microbatches, cfg.Split = 8, 4, []int{2, 2, 2, 2}
	moved, err := NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := stepsOn(t, moved, 1, 3)
	if err := moved.resplit([]int{3, 1, 2, 2}); err != nil {
		t.Fatal(err)
	}
	got = append(got, stepsOn(t, moved, 4, 6)...)
	gotCk, err := gather(moved.stages, cfg.Model, TrainState{})
	moved.Close()
	if err != nil {
		t.Fatal(err)
	}

	cfg.Out, cfg.Split = filepath.Join(t.TempDir(), "fixed"), []int{3, 1, 2, 2}
	fixed, err := NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer fixed.Close()
	want := stepsOn(t, fixed, 1, 6)
	wantCk, err := gather(fixed.stages, cfg.Model, TrainState{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("step %d: loss %v, split 3,1,2,2 throughout gives %v", i+1, got[i], want[i])
		}
	}
	sameTensors(t, gotCk, wantCk)
}

// sameTensors fails unless a and b hold the same parameters and moments bit for bit.
func sameTensors(t *testing.T, a, b *model.Checkpoint) {
	t.Helper()
	for name, w := range b.Params {
		for j := range w {
			if a.Params[name][j] != w[j] || a.M[name][j] != b.M[name][j] || a.V[name][j] != b.V[name][j] {
				t.Fatalf("%s[%d]: parameter or moment differs", name, j)
			}
		}
	}
}
