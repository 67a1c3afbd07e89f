//go:build cuda

// The plan's memory estimate against what CUDA devices allocate: the fit check must not let through a run that then runs out of memory.

package runtime

import (
	"fmt"
	"testing"

	"baton/kernels"
)

// TestCUDAMemoryEstimate trains short runs of the tiny model on CUDA
// devices, each allocator's peak measured against the plan's estimate for
// its stages (checkEstimate): one micro-batch of 64 and of 128 sequences
// on the whole GPU, where the logits and the blocks' scratch weigh most,
// and 8 layers over two partitions under 1f1b and zb-h1 with 4
// micro-batches, in fp32 and bf16.
func TestCUDAMemoryEstimate(t *testing.T) {
	data := corpus(t)
	for _, prec := range []kernels.Precision{kernels.FP32, kernels.BF16} {
		for _, r := range []estimateRun{
			{devices: "cuda:0", schedule: "1f1b", layers: 2, batch: 64, m: 1},
			{devices: "cuda:0", schedule: "1f1b", layers: 2, batch: 128, m: 1},
			{devices: "cuda:0/2", schedule: "1f1b", layers: 8, batch: 64, m: 4},
			{devices: "cuda:0/2", schedule: "zb-h1", layers: 8, batch: 64, m: 4, slack: zbSlack},
		} {
			r.prec = prec
			t.Run(fmt.Sprintf("%v/%s/%s/B=%d/m=%d", prec, r.devices, r.schedule, r.batch, r.m), func(t *testing.T) { checkEstimate(t, data, r) })
		}
	}
}
