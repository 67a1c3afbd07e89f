//go:build cuda

// A re-split on CUDA partitions, in one process and across ranks: parameters and moments (and bf16's float32 masters) carried by name between devices, and the run goes on exactly as one split that way from the start.

package runtime

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"baton/kernels"
	"baton/model"
	"baton/runtime/device"
)

// stepsOn trains steps from..to of tr's run by hand; a failed step fails
// t and ends them (from any goroutine, as a rank's).
func stepsOn(t *testing.T, tr *Trainer, from, to int) []float64 {
	t.Helper()
	in := tr.stepInput()
	var losses []float64
	for step := from; step <= to; step++ {
		in.AdamStep, in.Adam.LR = step, tr.cfg.LR
		res, err := tr.trainStep(in, nil)
		if err != nil {
			t.Error(err)
			return losses
		}
		losses = append(losses, res.Loss)
	}
	return losses
}

// TestCUDAResplitTrainsAsTheNewSplitThroughout: blocks moved between a
// GPU's partitions by peer copies (in bf16 with their float32 masters)
// train on exactly as on that split from the start.
func TestCUDAResplitTrainsAsTheNewSplitThroughout(t *testing.T) {
	for _, prec := range []kernels.Precision{kernels.FP32, kernels.BF16} {
		t.Run(prec.String(), func(t *testing.T) {
			data := corpus(t)
			cfg := resumeConfig(t, data, filepath.Join(t.TempDir(), "moved"), "cuda:0/4", 6)
			cfg.Model.L, cfg.Microbatches, cfg.Split, cfg.Precision = 8, 4, []int{2, 2, 2, 2}, prec
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
		})
	}
}

// TestCUDARanksResplitTrainsAsTheNewSplitThroughout: two ranks of two
// partitions of one GPU each (one process holds a partition once, so the
// ranks take two each of cuda:0/4) move blocks between them, read back
// from one rank's partition and loaded onto the other's, and train on
// exactly as one process split that way from the start.
func TestCUDARanksResplitTrainsAsTheNewSplitThroughout(t *testing.T) {
	if !emulated() {
		t.Setenv("BATON_NCCL", "off") // NCCL before 2.30 refuses two ranks on one GPU; cudaemu's takes them
	}
	data := corpus(t)
	one := resumeConfig(t, data, filepath.Join(t.TempDir(), "fixed"), "cuda:0/4", 6)
	one.Model.L, one.Microbatches, one.Split = 8, 4, []int{3, 1, 2, 2}
	fixed, err := NewTrainer(one)
	if err != nil {
		t.Fatal(err)
	}
	want := stepsOn(t, fixed, 1, 6)
	wantCk, err := gather(fixed.stages, one.Model, TrainState{})
	fixed.Close() // the ranks open its partitions
	if err != nil {
		t.Fatal(err)
	}

	cfgs := make([]TrainConfig, 2)
	for r, devs := range []string{"cuda:0/4#0,cuda:0/4#1", "cuda:0/4#2,cuda:0/4#3"} {
		cfgs[r] = resumeConfig(t, data, filepath.Join(t.TempDir(), "moved"), devs, 6)
		cfgs[r].Model, cfgs[r].Microbatches, cfgs[r].Split = one.Model, 4, []int{2, 2, 2, 2}
	}
	trainers := joinTrainers(t, cfgs)
	for r, tr := range trainers {
		gpus := tr.cfg.Group.GPUs
		if len(gpus) != 4 || !strings.HasPrefix(gpus[0].GPU, "GPU-") || gpus[0].Memory <= 0 || slices.ContainsFunc(gpus, func(on gpuOn) bool { return on != gpus[0] }) {
			t.Errorf("rank %d: the ranks' partitions joined as on GPUs %+v; want all four on GPU 0, named by its UUID, with its memory", r, gpus)
		}
	}
	losses := make([][]float64, 2)
	parts := make([]*model.Checkpoint, 2)
	onEach(trainers, func(r int, tr *Trainer) {
		losses[r] = stepsOn(t, tr, 1, 3)
		links := tr.ex.links
		if emulated() && len(links) == 0 {
			t.Errorf("rank %d opened no NCCL links to the other rank's stages", r)
		}
		if refused, err := tr.resplitGroup(3, []int{3, 1, 2, 2}); refused != nil || err != nil {
			t.Errorf("rank %d: resplit to 3,1,2,2: %v, %v", r, refused, err)
			return
		}
		if !maps.Equal(tr.ex.links, links) {
			t.Errorf("rank %d: the move left the links between the ranks' stages behind", r)
		}
		losses[r] = append(losses[r], stepsOn(t, tr, 4, 6)...)
		var err error
		if parts[r], err = gather(tr.stages, one.Model, TrainState{}); err != nil {
			t.Error(err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	for name, p := range parts[1].Params {
		parts[0].Params[name], parts[0].M[name], parts[0].V[name] = p, parts[1].M[name], parts[1].V[name]
	}
	for i := range want {
		if losses[0][i] != want[i] || losses[1][i] != want[i] {
			t.Errorf("step %d: ranks' losses %v and %v, one process on split 3,1,2,2 throughout gives %v", i+1, losses[0][i], losses[1][i], want[i])
		}
	}
	sameTensors(t, parts[0], wantCk)
}

// emulated says whether the CUDA devices are cudaemu's.
func emulated() bool {
	infos, _, _ := device.List()
	for _, in := range infos {
		if in.Kind == device.KindCUDA {
			return strings.Contains(in.Model, "cudaemu")
		}
	}
	return false
}
