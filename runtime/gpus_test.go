// The GPUs of a run's devices, whichever rank holds them: named and counted for the roofline, weighed for the planner.

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

// TestLeastShareSplitsAGPUAmongItsDevices: a GPU's memory is shared evenly
// among the devices on it, across ranks; the least share bounds the
// planner's search; a CPU device, or a GPU of unknown memory, bounds none.
func TestLeastShareSplitsAGPUAmongItsDevices(t *testing.T) {
	for _, c := range []struct {
		name string
		on   []gpuOn
		want int64
	}{
		{"one GPU in four", onGPUs(80, "GPU-a", "GPU-a", "GPU-a", "GPU-a"), 20},
		{"three on one, one alone", onGPUs(90, "GPU-a", "GPU-a", "GPU-a", "GPU-b"), 30},
		{"a CPU device", append(onGPUs(80, "GPU-a"), gpuOn{}), 0},
		{"unknown memory", onGPUs(0, "GPU-a"), 0},
	} {
		if got := leastShare(c.on); got != c.want {
			t.Errorf("%s: leastShare %d, want %d", c.name, got, c.want)
		}
	}
}
