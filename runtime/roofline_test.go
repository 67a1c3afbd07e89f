// The roofline's GPU: named and counted from every rank's devices, not only this process's.

package runtime

import "testing"

// TestGPUOfCountsEveryRanksGPUs: the partitions of one GPU count once,
// whichever rank holds them; a run with a CPU device has no GPU to price;
// a GPU the driver could not name is still one.
func TestGPUOfCountsEveryRanksGPUs(t *testing.T) {
	for _, c := range []struct {
		name  string
		on    []gpuOn
		gpu   string
		count int
	}{
		{"two ranks on two GPUs", onGPUs(1, "GPU-a", "GPU-a", "GPU-b", "GPU-b"), "NVIDIA H200", 2},
		{"two ranks on one GPU", onGPUs(1, "GPU-a", "GPU-a"), "NVIDIA H200", 1},
		{"a CPU device", append(onGPUs(1, "GPU-a"), gpuOn{}), "", 0},
		{"unnamed", []gpuOn{{GPU: "host/cuda:0"}}, "an unnamed GPU (rank0/cuda:0)", 1},
	} {
		if gpu, n := gpuOf(c.on, "rank0/cuda:0"); gpu != c.gpu || n != c.count {
			t.Errorf("%s: gpuOf gives %q ×%d, want %q ×%d", c.name, gpu, n, c.gpu, c.count)
		}
	}
}
