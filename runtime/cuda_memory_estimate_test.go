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
// its stages (checkEstimate): one micro-batch of 128 sequences on the
// whole GPU, where the logits and the blocks' scratch weigh most, in fp32
// and bf16, and 8 layers over two partitions with 4 micro-batches, under
// 1f1b in fp32 and zb-h1 (its split backward) in bf16. Each term of the
// estimate shows in one of them; more runs would only cost CI time.
func TestCUDAMemoryEstimate(t *testing.T) {
	data := corpus(t)
	for _, r := range []estimateRun{
		{devices: "cuda:0", schedule: "1f1b", layers: 2, batch: 128, m: 1, prec: kernels.FP32},
		{devices: "cuda:0", schedule: "1f1b", layers: 2, batch: 128, m: 1, prec: kernels.BF16},
		{devices: "cuda:0", schedule: "1f1b", layers: 2, batch: 16, m: 1, prec: kernels.BF16, vocab: 4096},
		{devices: "cuda:0/2", schedule: "1f1b", layers: 8, batch: 64, m: 4, prec: kernels.FP32},
		{devices: "cuda:0/2", schedule: "zb-h1", layers: 8, batch: 64, m: 4, prec: kernels.BF16, headSlack: splitSlack},
	} {
		t.Run(fmt.Sprintf("%v/%s/%s/B=%d/m=%d/V=%d", r.prec, r.devices, r.schedule, r.batch, r.m, r.vocab), func(t *testing.T) { checkEstimate(t, data, r) })
	}
}
