//go:build cuda

// A re-split on CUDA partitions, in one process and across ranks: parameters and moments (and bf16's float32 masters) carried by name between devices, and the run goes on exactly as one split that way from the start.

package runtime

import (
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
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
// ranks take two each of cuda:0/4) move blocks from rank 0's partitions to
// rank 1's, and train on exactly as one process split that way from the
// start: over NCCL links, GPU to GPU (in bf16 with the float32 masters, and
// the bf16 copies as stochastic rounding left them), and through the host
// (BATON_NCCL=off).
func TestCUDARanksResplitTrainsAsTheNewSplitThroughout(t *testing.T) {
	for _, c := range []struct {
		path       string
		prec       kernels.Precision
		stochastic bool
	}{{"nccl", kernels.FP32, false}, {"nccl", kernels.BF16, true}, {"host", kernels.FP32, false}, {"host", kernels.BF16, true}} {
		name := c.path + "/" + c.prec.String()
		if c.stochastic {
			name += "-stochastic"
		}
		t.Run(name, func(t *testing.T) {
			if c.path == "host" {
				t.Setenv("BATON_NCCL", "off")
			} else if ok, why := ncclTakesTwoRanksOnOneGPU(t); !ok {
				t.Skip(why)
			}
			ranksResplit(t, c.prec, c.stochastic, c.path == "nccl")
		})
	}
}

// ranksResplit is one case of TestCUDARanksResplitTrainsAsTheNewSplitThroughout:
// 4,2,1,1 → 1,1,2,4 after step 3 moves blocks 2 and 3 from partition 0 to
// 2, and 4 and 5 from partition 1 to 3: two links' worth.
func ranksResplit(t *testing.T, prec kernels.Precision, stochastic, linked bool) {
	data := corpus(t)
	one := resumeConfig(t, data, filepath.Join(t.TempDir(), "fixed"), "cuda:0/4", 6)
	one.Model.L, one.Microbatches, one.Split, one.Precision, one.StochasticRounding = 8, 4, []int{1, 1, 2, 4}, prec, stochastic
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
	moved := filepath.Join(t.TempDir(), "moved") // one run directory, as every rank must name
	for r, devs := range []string{"cuda:0/4#0,cuda:0/4#1", "cuda:0/4#2,cuda:0/4#3"} {
		cfgs[r] = resumeConfig(t, data, moved, devs, 6)
		cfgs[r].Model, cfgs[r].Microbatches, cfgs[r].Split, cfgs[r].Precision, cfgs[r].StochasticRounding = one.Model, 4, []int{4, 2, 1, 1}, prec, stochastic
	}
	trainers := joinTrainers(t, cfgs)
	for r, tr := range trainers {
		gpus := tr.cfg.Group.GPUs
		if len(gpus) != 4 || !strings.HasPrefix(gpus[0].GPU, "GPU-") || gpus[0].Memory <= 0 || gpus[0].Model == "" ||
			slices.ContainsFunc(gpus, func(on gpuOn) bool { return on != gpus[0] }) {
			t.Errorf("rank %d: the ranks' partitions joined as on GPUs %+v; want all four on GPU 0, named by its UUID, with its memory and model", r, gpus)
		}
		if gpu, n := gpuOf(gpus, tr.cfg.Group.Names[0]); gpu != gpus[0].Model || n != 1 {
			t.Errorf("rank %d: the roofline would price %d× %q, want GPU 0, %q", r, n, gpu, gpus[0].Model)
		}
		if live, replayed := leastShare(gpus), smallestGPU(tr.cfg.Group.Names); live != gpus[0].Memory/4 || replayed != live {
			t.Errorf("rank %d: a device's least share of memory is %d, and %d replayed from the ranks' device names; want a quarter of %d",
				r, live, replayed, gpus[0].Memory)
		}
		if pairs := tr.movePairs(tr.planOf(t, []int{1, 1, 2, 4})); len(pairs) != 2 {
			t.Errorf("rank %d: the move goes over %d links, want 2: %+v", r, len(pairs), pairs)
		}
	}
	losses := make([][]float64, 2)
	parts := make([]*model.Checkpoint, 2)
	onEach(trainers, func(r int, tr *Trainer) {
		losses[r] = stepsOn(t, tr, 1, 3)
		links := tr.ex.links
		if linked != (len(links) > 0) {
			t.Errorf("rank %d opened %d links to the other rank's stages; want them %s", r, len(links), map[bool]string{true: "linked", false: "through the host"}[linked])
		}
		via, refused, err := tr.resplitGroup(3, []int{1, 1, 2, 4})
		if refused != nil || err != nil {
			t.Errorf("rank %d: resplit to 1,1,2,4: %v, %v", r, refused, err)
			return
		}
		if want := map[bool]string{true: "nccl", false: "host"}[linked]; via != want {
			t.Errorf("rank %d: the blocks went via %s, want %s", r, via, want)
		}
		if !maps.Equal(tr.ex.links, links) {
			t.Errorf("rank %d: the move left the links between the ranks' stages behind", r)
		}
		losses[r] = append(losses[r], stepsOn(t, tr, 4, 6)...)
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
			t.Errorf("step %d: ranks' losses %v and %v, one process on split 1,1,2,4 throughout gives %v", i+1, losses[0][i], losses[1][i], want[i])
		}
	}
	sameTensors(t, parts[0], wantCk)
}

// planOf is the run's plan on split, for a test.
func (tr *Trainer) planOf(t *testing.T, split []int) *model.Plan {
	t.Helper()
	pl, err := tr.partition(split)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// ncclTakesTwoRanksOnOneGPU says whether two ranks may share a GPU through
// NCCL here: cudaemu's does, a real one from 2.30 when told (this sets
// NCCL_MULTI_RANK_GPU_ENABLE for t); why says otherwise.
func ncclTakesTwoRanksOnOneGPU(t *testing.T) (ok bool, why string) {
	if emulated() {
		return true, ""
	}
	_, driver, _ := device.List()
	m := regexp.MustCompile(`NCCL (\d+)\.(\d+)`).FindStringSubmatch(driver)
	if m == nil {
		return false, "no NCCL: " + driver
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major < 2 || major == 2 && minor < 30 {
		return false, fmt.Sprintf("NCCL %s.%s refuses two ranks on one GPU (2.30 takes them when told)", m[1], m[2])
	}
	t.Setenv("NCCL_MULTI_RANK_GPU_ENABLE", "1")
	return true, ""
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
