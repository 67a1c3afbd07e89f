// The eager optimizer trains bit for bit as the default does: on steps that clip, on steps that do not, and on a step that fails on a NaN.

package runtime

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

// eagerPair is the same pipeline twice, the second stepping eagerly.
func eagerPair(t *testing.T, name string, v int) (def, eager *pipeline) {
	t.Helper()
	def = newChunkedPipeline(t, eqModel, name, 2, 2, v, eqBatch)
	eager = newChunkedPipeline(t, eqModel, name, 2, 2, v, eqBatch)
	eager.ex.EagerOptimizer = true
	return def, eager
}

// optimizerState is every stage's parameters and AdamW moments, by stage and name.
func optimizerState(pl *pipeline) map[string][]float32 {
	out := map[string][]float32{}
	for _, st := range pl.stages {
		s := st.Stack
		for i, spec := range s.P.Specs {
			out[fmt.Sprintf("%d/p/%s", st.Index, spec.Name)] = s.Read(s.P, i)
			out[fmt.Sprintf("%d/m/%s", st.Index, spec.Name)] = s.Read(s.M, i)
			out[fmt.Sprintf("%d/v/%s", st.Index, spec.Name)] = s.Read(s.V, i)
		}
	}
	return out
}

// sameBits fails unless got and want hold the same tensors bit for bit.
func sameBits(t *testing.T, when string, got, want map[string][]float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d tensors, want %d", when, len(got), len(want))
	}
	for name, w := range want {
		g := got[name]
		for j := range w {
			if math.Float32bits(g[j]) != math.Float32bits(w[j]) {
				t.Fatalf("%s: %s[%d] = %v, want %v", when, name, j, g[j], w[j])
			}
		}
	}
}

func TestEagerOptimizerEqualsDefault(t *testing.T) {
	// 0 never clips, 1e3 is far above this model's norms, 1e-3 far below.
	maxNorms := []float64{0, 1e-3, 1e3, 1e-3}
	for _, c := range []struct {
		name string
		v    int
	}{{"1f1b", 1}, {"zb-h1", 1}, {"interleaved", 2}} {
		t.Run(c.name, func(t *testing.T) {
			def, eager := eagerPair(t, c.name, c.v)
			var clipped, kept int
			for i, maxNorm := range maxNorms {
				def.in.MaxGradNorm, eager.in.MaxGradNorm = maxNorm, maxNorm
				want, got := def.step(t), eager.step(t)
				if math.Float64bits(got.Loss) != math.Float64bits(want.Loss) || math.Float64bits(got.GradNorm) != math.Float64bits(want.GradNorm) {
					t.Fatalf("step %d: loss %v norm %v, default %v and %v", i+1, got.Loss, got.GradNorm, want.Loss, want.GradNorm)
				}
				clips := maxNorm > 0 && want.GradNorm > maxNorm
				if got.Redone != clips || want.Redone {
					t.Fatalf("step %d (norm %v, max %v): Redone %v, default %v", i+1, want.GradNorm, maxNorm, got.Redone, want.Redone)
				}
				if clips {
					clipped++
				} else {
					kept++
				}
				sameBits(t, fmt.Sprintf("step %d", i+1), optimizerState(eager), optimizerState(def))
			}
			if clipped == 0 || kept == 0 {
				t.Fatalf("%d steps clipped and %d did not: the test needs both", clipped, kept)
			}
		})
	}
}

func TestEagerOptimizerFailsOnNaNAsDefaultWithNothingUpdated(t *testing.T) {
	def, eager := eagerPair(t, "1f1b", 1)
	var errs [2]*NumericError
	for k, pl := range []*pipeline{def, eager} {
		pl.step(t)
		st := pl.stages[1]
		i := st.Stack.P.Index("h.7.mlp.c_fc.bias")
		bad := st.Stack.Read(st.Stack.P, i)
		bad[0] = float32(math.NaN())
		st.Stack.Write(st.Stack.P, i, bad)
		before := optimizerState(pl)
		pl.in.AdamStep++
		_, err := pl.ex.Run(pl.in)
		if !errors.As(err, &errs[k]) {
			t.Fatalf("want a NumericError, got %v", err)
		}
		sameBits(t, "after the failed step", optimizerState(pl), before)
	}
	d, e := *errs[0], *errs[1]
	if math.Float64bits(d.Value) != math.Float64bits(e.Value) {
		t.Errorf("eager error value %v, default %v", e.Value, d.Value)
	}
	d.Value, e.Value = 0, 0
	if d != e {
		t.Errorf("eager error %+v, default %+v", e, d)
	}
	for _, st := range eager.stages {
		for i, g := range st.Stack.G.Specs {
			for j, x := range st.Stack.Read(st.Stack.G, i) {
				if x != 0 {
					t.Fatalf("stage %d: gradient of %s[%d] = %v after the failed step; want it zeroed", st.Index, g.Name, j, x)
				}
			}
		}
	}
}

// The point of the mode: a stage steps although no other stage has
// published its squares (the default waits for them all).
func TestEagerOptimizerStepsWithoutWaitingForOtherStages(t *testing.T) {
	pl := newPipeline(t, eqModel, "1f1b", 2, 2, eqBatch)
	pl.ex.EagerOptimizer = true
	pl.in.AdamStep = 1
	r := pl.ex.newRun(pl.ex.Sched.Lists, pl.in)
	done := make(chan error, 1)
	go func() { done <- r.apply(pl.stages[1]) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		r.fail(errAborted)
		t.Fatal("the eager step waited for the other stage's squares")
	}
}
