// The whole training step of the default model on this backend, in GFLOP/s.

package cpu

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"baton/kernels"
	"baton/model"
	"baton/transformer"
)

// BenchmarkTrainingStep runs forward, backward and AdamW of the small
// preset on one batch of B=8 sequences of T=128 tokens, counting
// model.FLOPsPerToken per token (6N + 6·L·C·T), on each instruction set.
func BenchmarkTrainingStep(b *testing.B) {
	for _, isa := range hostISAs() {
		b.Run(isa.String(), func(b *testing.B) {
			benchStep(b, newOps(runtime.GOMAXPROCS(0), isa), model.Presets["small"], 8, 128)
		})
	}
}

// BenchmarkTrainingStepB is BenchmarkTrainingStep at the issue's
// configuration (b): V=256 C=256 L=4 NH=4, B=4 sequences of T=64 tokens.
func BenchmarkTrainingStepB(b *testing.B) {
	cfg := model.Config{V: 256, MaxT: 64, C: 256, NH: 4, L: 4}
	for _, isa := range hostISAs() {
		b.Run(isa.String(), func(b *testing.B) {
			benchStep(b, newOps(runtime.GOMAXPROCS(0), isa), cfg, 4, 64)
		})
	}
}

func benchStep(b *testing.B, o *Ops, cfg model.Config, B, T int) {
	s, err := transformer.NewStack(o, cfg, transformer.Whole(cfg), B, T)
	if err != nil {
		b.Fatal(err)
	}
	s.Init(1)
	r := rand.New(rand.NewPCG(1, 1))
	tokens, targets := make([]int32, B*T), make([]int32, B*T)
	for i := range tokens {
		tokens[i], targets[i] = int32(r.IntN(cfg.V)), int32(r.IntN(cfg.V))
	}
	hp := kernels.AdamParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}
	acts := s.NewActs()
	step := func(t int) {
		s.Forward(acts, 0, tokens, targets, 1/float32(B*T))
		s.Backward(acts)
		s.FoldTiedGrad(nil)
		s.Step(t, hp, 1)
	}
	step(1)
	m := meter(b)
	t := 1
	for b.Loop() {
		t++
		step(t)
	}
	m.report(cfg.FLOPsPerToken(T) * float64(B*T))
	b.ReportMetric(float64(b.N*B*T)/b.Elapsed().Seconds(), "tokens/s")
}
