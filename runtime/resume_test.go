// Resume: 2N steps equal N steps, a stop, and N more, on the same layout or another.

package runtime

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"baton/model"
	"baton/runtime/device"
)

// corpus writes a small text file for the trainer to read.
func corpus(t testing.TB) string {
	t.Helper()
	words := []string{"func", "main", "return", "if", "err", "nil", "for", "range", "go", "defer", "{", "}", "(", ")", "\n"}
	r := rand.New(rand.NewPCG(3, 4))
	var b []byte
	for len(b) < 200_000 {
		b = append(b, words[r.IntN(len(words))]...)
		b = append(b, ' ')
	}
	path := filepath.Join(t.TempDir(), "corpus.txt")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func resumeConfig(t testing.TB, data, out, devices string, steps int) TrainConfig {
	t.Helper()
	names, err := device.Expand(devices)
	if err != nil {
		t.Fatal(err)
	}
	m := model.Config{V: 256, MaxT: 16, C: 16, NH: 2, L: 4}
	return TrainConfig{Preset: "custom", Model: m, Devices: names, Schedule: "1f1b", Microbatches: 2, Batch: 4,
		Context: 16, Steps: steps, LR: 3e-3, MinLR: 3e-4, Warmup: 2, WeightDecay: 0.1, MaxGradNorm: 1, Seed: 5,
		Data: data, EvalBatches: 1, Out: out}
}

// train runs cfg, interrupted as by Ctrl-C after stopAt steps (0: never).
func train(t *testing.T, cfg TrainConfig, stopAt int) *Summary {
	t.Helper()
	return trainWatching(t, cfg, stopAt, nil)
}

// trainWatching is train, calling watch (unless nil) with each step's
// progress before it stops the run at stopAt.
func trainWatching(t *testing.T, cfg TrainConfig, stopAt int, watch func(Progress)) *Summary {
	t.Helper()
	tr, err := NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sum, err := tr.Run(ctx, func(p Progress) {
		if watch != nil {
			watch(p)
		}
		if p.Step == stopAt {
			cancel()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func TestResumeIsExactOnAnyLayout(t *testing.T) {
	data := corpus(t)
	dir := t.TempDir()
	const n = 4
	whole := train(t, resumeConfig(t, data, filepath.Join(dir, "whole"), "cpu:0..3", 2*n), 0)
	wantParams, err := model.LoadResume(CheckpointDir(filepath.Join(dir, "whole")))
	if err != nil {
		t.Fatal(err)
	}
	for _, layout := range []struct{ first, second string }{
		{"cpu:0..3", "cpu:0..3"}, {"cpu:0..3", "cpu:0,cpu:1"}, {"cpu:0,cpu:1", "cpu:0"}, {"cpu:0", "cpu:0..3"},
	} {
		t.Run(layout.first+"→"+layout.second, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			first := train(t, resumeConfig(t, data, out, layout.first, 2*n), n)
			if !first.Interrupted || first.Steps != n {
				t.Fatalf("the first run stopped at step %d (interrupted %v), want %d", first.Steps, first.Interrupted, n)
			}
			cfg := resumeConfig(t, data, out, layout.second, 2*n)
			cfg.Resume = true
			second := train(t, cfg, 0)
			if second.StartStep != n || second.Steps != 2*n {
				t.Fatalf("resumed run went from step %d to %d, want %d to %d", second.StartStep, second.Steps, n, 2*n)
			}
			losses := second.Losses // the whole run's, across the resume
			if second.LossesFirstStep != 1 || len(losses) != len(whole.Losses) {
				t.Fatalf("resumed summary has %d losses from step %d, want %d from step 1", len(losses), second.LossesFirstStep, len(whole.Losses))
			}
			for i, want := range whole.Losses {
				if losses[i] != want {
					t.Errorf("step %d: loss %v, uninterrupted %v", i+1, losses[i], want)
				}
			}
			got, err := model.LoadResume(CheckpointDir(out))
			if err != nil {
				t.Fatal(err)
			}
			for name, w := range wantParams.Params {
				for j := range w {
					if got.Params[name][j] != w[j] || got.M[name][j] != wantParams.M[name][j] {
						t.Fatalf("%s[%d] differs from the uninterrupted run's", name, j)
					}
				}
			}
		})
	}
}

// TestScheduleNameIsTheGenerators: a schedule named in another case runs
// under the generator's own spelling, which run.json records, so that a
// resume naming it so agrees with the record.
func TestScheduleNameIsTheGenerators(t *testing.T) {
	cfg := resumeConfig(t, corpus(t), filepath.Join(t.TempDir(), "run"), "cpu:0,cpu:1", 1)
	cfg.Schedule = "1F1B"
	tr, err := NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if got := tr.Config().Schedule; got != "1f1b" {
		t.Errorf("--schedule 1F1B runs as %q, want 1f1b", got)
	}
}
