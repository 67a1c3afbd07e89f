// An inference stack computes a training stack's logits bit for bit, without the training's buffers.

package transformer_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"baton/kernels/cpu"
	"baton/model"
	"baton/transformer"
)

// TestInferenceStackLogits: a stack made for inference (sampling) gives
// the logits of a training stack of the same weights, bit for bit, and
// holds no gradients or AdamW moments.
func TestInferenceStackLogits(t *testing.T) {
	cfg := model.Presets["tiny"]
	train, infer := wholeStack(t, cfg, false, 7), wholeStack(t, cfg, true, 7)
	if infer.G != nil || infer.M != nil || infer.V != nil {
		t.Errorf("the inference stack holds gradients or moments")
	}
	r := rand.New(rand.NewPCG(1, 2))
	tokens := make([]int32, cfg.MaxT)
	for i := range tokens {
		tokens[i] = int32(r.IntN(cfg.V))
	}
	want, got := make([]float32, cfg.MaxT*cfg.V), make([]float32, cfg.MaxT*cfg.V)
	train.Logits(tokens, want)
	infer.Logits(tokens, got)
	if !slices.Equal(got, want) {
		t.Errorf("the inference stack's logits differ from the training stack's")
	}
}

// wholeStack is the whole model cfg on one CPU device, for one sequence
// of its full context, its weights initialised from seed; inference leaves
// out gradients and moments, as sampling does.
func wholeStack(tb testing.TB, cfg model.Config, inference bool, seed uint64) *transformer.Stack {
	tb.Helper()
	spec := transformer.Whole(cfg)
	spec.Inference = inference
	s, err := transformer.NewStack(cpu.New(), cfg, spec, 1, cfg.MaxT)
	if err != nil {
		tb.Fatal(err)
	}
	s.Init(seed)
	return s
}
