//go:build cuda

// Ranks on CUDA devices weigh their own stages against their GPU's memory before anything is allocated.

package runtime

import (
	"context"
	"path/filepath"
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
