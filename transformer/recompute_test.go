// Recomputation changes no bit: under RecomputeGELU and RecomputeBlock a stack gives RecomputeNone's losses and gradients, full or split backward, and stashes what model.Config.BlockActElems says.

package transformer_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"baton/kernels"
	"baton/kernels/cpu"
	"baton/model"
	"baton/transformer"
)

var recomputeModes = []model.Recompute{model.RecomputeNone, model.RecomputeGELU, model.RecomputeBlock}

// recomputeRun trains m micro-batches of one step on a whole tiny model
// under r and returns the losses and every gradient. A split backward runs
// F0 I0 F1 I1 … W0 W1 …: between a micro-batch's I and its W, the others'
// forward and I reuse the stack's scratch.
func recomputeRun(t *testing.T, r model.Recompute, split bool) ([]float64, [][]float32) {
	t.Helper()
	cfg := model.Presets["tiny"]
	const B, T, m = 2, 8, 3
	spec := transformer.Whole(cfg)
	spec.Recompute = r
	s, err := transformer.NewStack(cpu.New(), cfg, spec, B, T)
	if err != nil {
		t.Fatal(err)
	}
	s.Init(11)
	rng := rand.New(rand.NewPCG(7, 8))
	acts := make([]*transformer.Acts, m)
	for i := range m {
		tokens, targets := make([]int32, B*T), make([]int32, B*T)
		for j := range tokens {
			tokens[j], targets[j] = int32(rng.IntN(cfg.V)), int32(rng.IntN(cfg.V))
		}
		acts[i] = s.NewActs()
		s.Forward(acts[i], i, tokens, targets, 1/float32(m*B*T))
		if split {
			s.BackwardInput(acts[i])
		} else {
			s.Backward(acts[i])
		}
	}
	if split {
		for _, a := range acts {
			s.BackwardWeight(a)
		}
	}
	s.FoldTiedGrad(nil)
	grads := make([][]float32, len(s.G.Specs))
	for i := range grads {
		grads[i] = s.Read(s.G, i)
	}
	return s.LossSums(m), grads
}

func TestRecomputeIsBitIdentical(t *testing.T) {
	specs := model.Presets["tiny"].AllTensors()
	for _, split := range []bool{false, true} {
		wantLoss, wantGrads := recomputeRun(t, model.RecomputeNone, split)
		for _, r := range recomputeModes[1:] {
			t.Run(fmt.Sprintf("%v/split=%v", r, split), func(t *testing.T) {
				loss, grads := recomputeRun(t, r, split)
				for mb := range wantLoss {
					if loss[mb] != wantLoss[mb] {
						t.Errorf("micro-batch %d: loss %v, none gives %v", mb, loss[mb], wantLoss[mb])
					}
				}
				for i, want := range wantGrads {
					for j := range want {
						if grads[i][j] != want[j] {
							t.Fatalf("%s[%d]: gradient %v, none gives %v", specs[i].Name, j, grads[i][j], want[j])
						}
					}
				}
			})
		}
	}
}

// allocCounter counts the float32 its backend allocates.
type allocCounter struct {
	kernels.Ops
	n int64
}

func (c *allocCounter) Alloc(n int) kernels.Buffer {
	c.n += int64(n)
	return c.Ops.Alloc(n)
}

func (c *allocCounter) AllocAs(n int, s kernels.Storage) kernels.Buffer {
	c.n += int64(n)
	return c.Ops.AllocAs(n, s)
}

func TestNewActsAllocatesStageActElems(t *testing.T) {
	cfg := model.Presets["small"]
	const B, T = 2, 16
	N, C := int64(B*T), int64(cfg.C)
	for _, spec := range []transformer.Spec{transformer.Whole(cfg), {FirstBlock: 2, NumBlocks: 3}} {
		stash := map[model.Recompute]int64{}
		for _, r := range recomputeModes {
			spec.Recompute = r
			ops := &allocCounter{Ops: cpu.New()}
			s, err := transformer.NewStack(ops, cfg, spec, B, T)
			if err != nil {
				t.Fatal(err)
			}
			ops.n = 0
			s.NewActs()
			stash[r] = ops.n - 2*N*C // less the gradients at the two ends, dOut and dIn
			if want := cfg.StageActElemsFor(spec.NumBlocks, B, T, r); stash[r] != want {
				t.Errorf("%+v: NewActs allocates %d float32 of stash, StageActElemsFor says %d", spec, stash[r], want)
			}
		}
		k := int64(spec.NumBlocks)
		if got, want := stash[model.RecomputeNone]-stash[model.RecomputeGELU], k*N*4*C; got != want {
			t.Errorf("%+v: gelu stashes %d fewer float32 than none, want %d (4C per token and block)", spec, got, want)
		}
		if got, want := stash[model.RecomputeNone]-stash[model.RecomputeBlock], k*N*(15*C+4+int64(cfg.NH)); got != want {
			t.Errorf("%+v: block stashes %d fewer float32 than none, want %d ((15C+4+NH) per token and block)", spec, got, want)
		}
	}
}

func TestNewStackRejectsUnknownRecompute(t *testing.T) {
	cfg := model.Presets["tiny"]
	spec := transformer.Whole(cfg)
	spec.Recompute = model.RecomputeBlock + 1
	if _, err := transformer.NewStack(cpu.New(), cfg, spec, 1, 8); err == nil {
		t.Fatal("NewStack accepted recompute mode 3")
	}
}

// BenchmarkRecompute times F, a full B, and a split I and W of one
// micro-batch under each mode, on the small preset: what each mode costs.
func BenchmarkRecompute(b *testing.B) {
	cfg := model.Presets["small"]
	const B, T = 4, 128
	tokens := make([]int32, B*T)
	for j := range tokens {
		tokens[j] = int32(j % cfg.V)
	}
	for _, r := range recomputeModes {
		spec := transformer.Whole(cfg)
		spec.Recompute = r
		s, err := transformer.NewStack(cpu.New(), cfg, spec, B, T)
		if err != nil {
			b.Fatal(err)
		}
		s.Init(1)
		a := s.NewActs()
		s.Forward(a, 0, tokens, tokens, 1/float32(B*T))
		for _, step := range []struct {
			name string
			run  func()
		}{
			{"F", func() { s.Forward(a, 0, tokens, tokens, 1/float32(B*T)) }},
			{"B", func() { s.Backward(a) }},
			{"I", func() { s.BackwardInput(a) }},
			{"W", func() { s.BackwardWeight(a) }},
		} {
			b.Run(fmt.Sprintf("%v/%s", r, step.name), func(b *testing.B) {
				for b.Loop() {
					step.run()
				}
			})
		}
	}
}
