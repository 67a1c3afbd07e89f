// The stage memory estimate: the CUDA allocator's size classes, the peaks a CUDA device measured, the losses of every micro-batch, and a split backward's stash.

package model

import "testing"

func TestCUDABlockBytes(t *testing.T) {
	for n, want := range map[int64]int64{1: 512, 512: 512, 513: 1024, 1 << 20: 1 << 20, 1<<20 + 1: 1<<20 + 1<<16, 1646821376: 25 << 26} {
		if got := CUDABlockBytes(n); got != want {
			t.Errorf("CUDABlockBytes(%d) = %d, want %d", n, got, want)
		}
	}
	for _, n := range []int64{4000, 3 << 20, 1<<30 - 7, 5 << 30} {
		r := CUDABlockBytes(n)
		if r < n || r%512 != 0 || r-n > n/16 || CUDABlockBytes(r) != r {
			t.Errorf("CUDABlockBytes(%d) = %d: below, unaligned, wasting more than 1/16 or not a fixed point", n, r)
		}
	}
}

// TestStageBytesTiny: tiny on one device, one micro-batch in flight, is
// estimated at the peak a CUDA device measured for it (cudaemu, fp32 and
// bf16: TestCUDAMemoryEstimate in runtime checks it live), byte for byte:
// the estimate lists the buffers the stage allocates.
func TestStageBytesTiny(t *testing.T) {
	cfg := Presets["tiny"]
	for _, tc := range []struct {
		B          int
		fp32, bf16 int64
	}{
		{64, 8677888, 4664320},
		{128, 16775680, 8764416},
	} {
		fp32, bf16 := cfg.StageBytes(0, cfg.L, true, true, PlanOptions{B: tc.B, T: cfg.MaxT})
		if fp32 != tc.fp32 || bf16 != tc.bf16 {
			t.Errorf("B=%d: %d bytes in fp32 and %d in bf16, measured %d and %d", tc.B, fp32, bf16, tc.fp32, tc.bf16)
		}
	}
}

// TestStageBytesLossesAndSplitBackward: the last stage keeps the per-token
// losses of every micro-batch of the step, in a buffer doubled as they
// arrive (4 micro-batches: N, 2N and 4N float32, against N and 2N for the 2
// in flight), and a split backward keeps each block's linear layers'
// gradients (9·C per token) in every stash.
func TestStageBytesLossesAndSplitBackward(t *testing.T) {
	cfg := Presets["tiny"]
	const B, T = 128, 16
	N, C := int64(B*T), int64(cfg.C)
	o := PlanOptions{B: B, T: T, Stashes: []int{2}}
	for _, head := range []bool{false, true} {
		base, _ := cfg.StageBytes(0, 1, !head, head, o)
		four := o
		four.Microbatches = 4
		got, _ := cfg.StageBytes(0, 1, !head, head, four)
		if want := map[bool]int64{false: 0, true: 4 * 4 * N}[head]; got-base != want {
			t.Errorf("head %v: 4 micro-batches of losses add %d bytes to 2's, want %d", head, got-base, want)
		}
		split := o
		split.SplitBackward = true
		got, _ = cfg.StageBytes(0, 1, !head, head, split)
		if want := 2 * 4 * 9 * N * C; got-base != want {
			t.Errorf("head %v: a split backward adds %d bytes, want %d (2 stashes × 9·C per token)", head, got-base, want)
		}
	}
}
