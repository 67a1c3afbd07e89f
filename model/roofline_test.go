// A step's kernels from the model's shapes: their FLOPs match the planner's, every parameter gets AdamW, the counts follow block.go.

package model

import (
	"math"
	"testing"
)

// rooflinePlan splits cfg into stages of the given block counts, for
// micro-batches of B×T.
func rooflinePlan(t *testing.T, cfg Config, split []int, B, T int, r Recompute) *Plan {
	t.Helper()
	devs := make([]string, len(split))
	for i := range devs {
		devs[i] = "cpu:0"
	}
	p, err := Partition(cfg, devs, PlanOptions{Split: split, B: B, T: T, Recompute: r})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The matrix products of a step's kernels are the planner's FLOPs (its
// per-block and head costs per token), but for two things the kernels
// count and the planner's per-token formula leaves out: each query attends
// to itself too (T(T+1)/2 causal pairs, not T²/2), and the attention's
// backward recomputes QKᵀ (five products per pair, not four). Both are
// added here from their own formula, so a kernel missed, counted twice or
// given a wrong shape fails.
func TestStepKernelsMatchPlannerFLOPs(t *testing.T) {
	for _, tc := range []struct {
		preset string
		split  []int
		B, T   int
		m      int
	}{
		{"tiny", []int{2}, 2, 16, 4},
		{"tiny", []int{1, 1}, 3, 7, 2},
		{"small", []int{3, 5}, 2, 128, 3},
		{"gpt2-124m", []int{12}, 8, 1024, 1},
		{"gpt2-124m", []int{4, 4, 4}, 4, 512, 8},
	} {
		cfg := Presets[tc.preset]
		p := rooflinePlan(t, cfg, tc.split, tc.B, tc.T, RecomputeNone)
		var got float64
		for _, k := range p.StepKernels(tc.m, false, 4) {
			if k.MatMul() {
				got += float64(k.Calls) * k.FLOPs
			}
		}
		tokens := float64(tc.m * tc.B * tc.T)
		planner := tokens * (float64(cfg.L)*cfg.BlockFLOPsPerToken(tc.T) + cfg.HeadFLOPsPerToken())
		B, T, C := float64(tc.B), float64(tc.T), float64(cfg.C)
		perBlock := 7*B*C*T*(T+1) - 6*B*C*T*T // exact causal pairs, ×(2 forward + 5 backward) vs the planner's ×6 of T²/2
		want := planner + float64(tc.m*cfg.L)*perBlock
		if math.Abs(got-want) > 1e-12*want {
			t.Errorf("%s split %v B=%d T=%d m=%d: kernels' matmul FLOPs %.6g, want %.6g (planner %.6g)", tc.preset, tc.split, tc.B, tc.T, tc.m, got, want, planner)
		}
	}
}

// Every parameter gets one AdamW call per step, and the LM head's copy of
// wte one more where the model is split.
func TestStepKernelsAdamWEveryParameter(t *testing.T) {
	cfg := Presets["small"]
	for _, split := range [][]int{{8}, {4, 4}, {1, 6, 1}} {
		var got int64
		for _, k := range rooflinePlan(t, cfg, split, 2, 32, RecomputeNone).StepKernels(4, false, 4) {
			if k.Op == "AdamW" {
				if k.Calls != 1 || k.Action != "STEP" {
					t.Errorf("split %v: %s %s: %d calls in %s, want 1 in STEP", split, k.Unit, k.Shape, k.Calls, k.Action)
				}
				got += int64(k.FLOPs / 16)
			}
		}
		want := cfg.NumParams()
		if len(split) > 1 {
			want += int64(cfg.V * cfg.C)
		}
		if got != want {
			t.Errorf("split %v: AdamW over %d parameters, want %d", split, got, want)
		}
	}
}

// The number of kernel calls per block follows block.go: 13 in the
// forward, 11 in the input gradient, 8 in the weight gradient, and what
// each recompute mode adds.
func TestStepKernelsCount(t *testing.T) {
	cfg := Presets["tiny"]
	for _, tc := range []struct {
		r     Recompute
		split bool
		want  int
	}{
		// 2 blocks of 32, embedding 2, head 7, optimizer 32 (fold, squares, 28 AdamW, 2 zeros).
		{RecomputeNone, false, 105},
		{RecomputeNone, true, 105},
		{RecomputeGELU, false, 107},  // a GELU again per block's W
		{RecomputeBlock, false, 125}, // the forward to the GELU (10 kernels) once per block
		{RecomputeBlock, true, 145},  // and again in W
	} {
		if got := len(rooflinePlan(t, cfg, []int{2}, 2, 16, tc.r).StepKernels(4, tc.split, 4)); got != tc.want {
			t.Errorf("recompute %v split %v: %d kernels, want %d", tc.r, tc.split, got, tc.want)
		}
	}
}

// A few kernels of tiny (B=2, T=16: N=32 rows, C=32, NH=4, V=256), by hand.
func TestStepKernelsTinyByHand(t *testing.T) {
	ks := rooflinePlan(t, Presets["tiny"], []int{2}, 2, 16, RecomputeNone).StepKernels(4, false, 4)
	find := func(unit, action, op, shape string) Kernel {
		for _, k := range ks {
			if k.Unit == unit && k.Action == action && k.Op == op && k.Shape == shape {
				return k
			}
		}
		t.Fatalf("no %s %s %s %s among the kernels", unit, action, op, shape)
		return Kernel{}
	}
	for _, tc := range []struct {
		unit, action, op, shape string
		calls                   int
		flops, bytes            float64
	}{
		// qkv: 2·32·96·32; (32·32 + 32·96 + 32·96)·4.
		{"h.0", "F", "Gemm", "M=32 N=96 K=32 C=A·B", 4, 196608, 28672},
		// its weight gradient accumulates: dw (32,96) read and written.
		{"h.1", "W", "Gemm", "M=32 N=96 K=32 C+=Aᵀ·B", 4, 196608, 4 * (32*32 + 32*96 + 2*32*96)},
		// 2·4·16·17/2 = 1088 pairs of 2 products of 2·8; qkv, out (4·1024 floats) and lse (128).
		{"h.0", "F", "AttentionForward", "B=2 T=16 C=32 NH=4", 4, 34816, 4*4*1024 + 4*128},
		// five products per pair; dout, qkv, out, dqkv (8·1024) and lse.
		{"h.1", "B", "AttentionBackward", "B=2 T=16 C=32 NH=4", 4, 87040, 4*8*1024 + 4*128},
		// 8 per element; inp and out (2·1024), w and b (64); mean and rstd (64 fp32).
		{"head", "F", "LayerNormForward", "N=32 C=32", 4, 8192, 4*(2*1024+64) + 4*64},
		// fused: a and b read, res and out written (4·1024), w and b (64); mean and rstd (64 fp32).
		{"h.1", "F", "ResidualLayerNormForward", "N=32 C=32", 4, 9 * 1024, 4*(4*1024+64) + 4*64},
		// logits read and dlogits written (2·8192), targets and losses (64).
		{"head", "F", "CrossEntropyForwardBackward", "N=32 V=256", 4, 5 * 8192, 4*2*8192 + 4*64},
		// tokens (32 ints), wte's and the output's rows (2·1024), wpe (512).
		{"embedding", "F", "EncoderForward", "B=2 T=16 C=32", 4, 1024, 4*32 + 4*(2*1024+512)},
		// c_fc's weight (32·128): gradient, master and two moments (4·4 bytes read, 3·4 written).
		{"h.0", "STEP", "AdamW", "N=4096", 1, 16 * 4096, 28 * 4096},
	} {
		k := find(tc.unit, tc.action, tc.op, tc.shape)
		if k.Calls != tc.calls || k.FLOPs != tc.flops || k.Bytes != tc.bytes {
			t.Errorf("%s %s %s %s: %d calls, %v FLOPs, %v bytes; want %d, %v, %v", tc.unit, tc.action, tc.op, tc.shape, k.Calls, k.FLOPs, k.Bytes, tc.calls, tc.flops, tc.bytes)
		}
	}
}

// In bf16 the activations halve, the fp32 statistics and AdamW's master
// weights and moments do not, and AdamW writes the bf16 copy as well.
func TestCostsBF16(t *testing.T) {
	for _, tc := range []struct {
		got, want float64
		what      string
	}{
		{GemmCost(false, false, 32, 96, 32, false, 2).Bytes, 14336, "a GEMM's bytes"},
		{LayerNormForwardCost(32, 32, 2).Bytes, 2*(2*1024+64) + 4*64, "LayerNorm's bytes"},
		{AdamWCost(1000, 2).Bytes, 2*1000 + 24*1000 + 2*1000, "AdamW's bytes"},
		{AttentionForwardCost(2, 16, 32, 4, 2).FLOPs, 34816, "the attention's FLOPs"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s in bf16: %v, want %v", tc.what, tc.got, tc.want)
		}
	}
}
