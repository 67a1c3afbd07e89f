//go:build cuda

// Ranks on CUDA devices weigh their own stages against their GPU's memory before anything is allocated, and report their sends over NCCL.

package runtime

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"baton/runtime/dist"
)

// TestCUDARanksRefuseWhatTheirGPUCannotHold: two ranks whose stages need
// more than their (emulated) GPU's 1 MiB each refuse to start, naming the
// device and its memory, before any collective step (so neither waits on
// the other).
func TestCUDARanksRefuseWhatTheirGPUCannotHold(t *testing.T) {
	if !emulated() {
		t.Skip("sets the emulated GPU's memory (CUDAEMU_MEMORY_MIB)")
	}
	t.Setenv("CUDAEMU_MEMORY_MIB", "1")
	data := corpus(t)
	port := freePort(t)
	errs := make([]error, 2)
	out := filepath.Join(t.TempDir(), "run") // one run directory, as every rank must name
	onEach(make([]*Trainer, 2), func(r int, _ *Trainer) {
		cfg := resumeConfig(t, data, out, "cuda:0", 2)
		cfg.Model.C = 128 // 2 blocks of 197k parameters a rank: 6 MB with gradients and AdamW
		env := dist.Env{Rank: r, WorldSize: 2, LocalRank: r, LocalWorldSize: 2, MasterAddr: "127.0.0.1", MasterPort: port}
		g, err := Join(context.Background(), env, cfg, 20*time.Second)
		if err != nil {
			errs[r] = err
			return
		}
		defer g.Close()
		g.Timeout, cfg.Group = 20*time.Second, g
		tr, err := NewTrainer(cfg)
		if err == nil {
			tr.Close()
		}
		errs[r] = err
	})
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "cuda:0 needs about") || !strings.Contains(err.Error(), "but has 1.00 MiB of memory") {
			t.Errorf("rank %d: %v; want cuda:0's need refused beside its 1 MiB", r, err)
		}
	}
}

// TestCUDARanksReportTheirLinks: two ranks on one GPU's partitions report
// each boundary's sends over NCCL (rank 0's activations to rank 1, rank
// 1's gradients back) in rank 0's summary: how many, their bytes, each a
// micro-batch's (B,T,C) float32s, and their time on the send stream.
func TestCUDARanksReportTheirLinks(t *testing.T) {
	if ok, why := ncclTakesTwoRanksOnOneGPU(t); !ok {
		t.Skip(why)
	}
	data, dir := corpus(t), t.TempDir()
	cfgs := make([]TrainConfig, 2)
	for r, dev := range []string{"cuda:0/2#0", "cuda:0/2#1"} {
		cfgs[r] = resumeConfig(t, data, dir, dev, 3)
	}
	sums, errs := runRanks(t, cfgs)
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	c := cfgs[0]
	each := int64(c.Batch / c.Microbatches * c.Context * c.Model.C * 4)
	var seen []string
	for _, tr := range sums[0].Transfers {
		if tr.Path != "NCCL" {
			continue
		}
		seen = append(seen, tr.From+" → "+tr.To)
		if tr.Copies == 0 || tr.Bytes != int64(tr.Copies)*each || !(tr.Seconds > 0) {
			t.Errorf("%s: %d sends, %d bytes, %v s; want some, of %d bytes each, taking time", tr, tr.Copies, tr.Bytes, tr.Seconds, each)
		}
	}
	if want := []string{"rank0/cuda:0/2#0 → rank1/cuda:0/2#1", "rank1/cuda:0/2#1 → rank0/cuda:0/2#0"}; !slices.Equal(seen, want) {
		t.Errorf("rank 0's summary reports NCCL sends %q; want %q", seen, want)
	}
}
