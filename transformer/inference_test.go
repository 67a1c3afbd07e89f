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
	newStack := func(inference bool) *transformer.Stack {
		spec := transformer.Whole(cfg)
		spec.Inference = inference
		s, err := transformer.NewStack(cpu.New(), cfg, spec, 1, cfg.MaxT)
		if err != nil {
			t.Fatal(err)
		}
		s.Init(7)
		return s
	}
	train, infer := newStack(false), newStack(true)
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
