//go:build cuda

// A bf16 run resumed from its checkpoint, which holds the float32 masters, goes on bit for bit: each weight's bf16 copy rounded again as the last step rounded it.

package runtime

import (
	"path/filepath"
	"testing"

	"baton/kernels"
)

// TestCUDABF16ResumeIsExact: bf16 runs on two partitions interrupted after
// step 3 and resumed on the whole GPU give the uninterrupted run's losses
// and checkpoint, rounding the copies to nearest (Upload's rounding) and
// stochastically (RoundWeights with the checkpoint's step; Upload alone
// would leave nearest copies, and the losses after the resume would differ).
func TestCUDABF16ResumeIsExact(t *testing.T) {
	data := corpus(t)
	for _, stochastic := range []bool{false, true} {
		t.Run(map[bool]string{false: "nearest", true: "stochastic"}[stochastic], func(t *testing.T) {
			dir := t.TempDir()
			config := func(out, devices string) TrainConfig {
				cfg := resumeConfig(t, data, out, devices, 6)
				cfg.Precision, cfg.StochasticRounding = kernels.BF16, stochastic
				return cfg
			}
			whole := train(t, config(filepath.Join(dir, "whole"), "cuda:0/2"), 0)
			out := filepath.Join(dir, "resumed")
			if first := train(t, config(out, "cuda:0/2"), 3); first.Steps != 3 {
				t.Fatalf("the first run stopped at step %d, want 3", first.Steps)
			}
			cfg := config(out, "cuda:0")
			cfg.Resume = true
			second := train(t, cfg, 0)
			for i, want := range whole.Losses {
				if second.Losses[i] != want {
					t.Errorf("step %d: loss %v, uninterrupted %v", i+1, second.Losses[i], want)
				}
			}
			sameCheckpoints(t, out, filepath.Join(dir, "whole"))
		})
	}
}
