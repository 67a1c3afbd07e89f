// A training step in steady state allocates nothing: the test on tiny, and the benchmark that reports allocations per step.

package runtime

import (
	"context"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"testing"

	"baton/model"
)

// noAllocCases are the runs the steady state is checked on: one device,
// and two under a pipelined schedule (1F1B over 2 micro-batches), where
// sends, receives, the tied embedding's gradient and the global norm
// cross between devices.
var noAllocCases = []struct{ name, devices, schedule string }{
	{"one-device", "cpu:0", "naive"},
	{"two-devices-1f1b", "cpu:0,cpu:1", "1f1b"},
}

// noAllocConfig is a run of the tiny preset that only trains: no
// evaluation, checkpoint or metrics line before its last step, none of
// which is a step (they allocate, and run between steps or at the end).
func noAllocConfig(t testing.TB, devices, schedule string, steps int) TrainConfig {
	cfg := resumeConfig(t, corpus(t), filepath.Join(t.TempDir(), "run"), devices, steps)
	cfg.Preset, cfg.Model, cfg.Context = "tiny", model.Presets["tiny"], model.Presets["tiny"].MaxT
	cfg.Schedule, cfg.Microbatches = schedule, 2
	if schedule == "naive" {
		cfg.Microbatches = 1
	}
	cfg.EvalEvery, cfg.LogEvery, cfg.SaveEvery, cfg.SkipCheckpoint = steps+1, steps+1, 0, true
	return cfg
}

// TestStepsAllocateNothing: every training step after the first, steps 2
// to n of Trainer.Run on tiny, allocates nothing on the Go heap: not the
// executor (its run state, records, events, watchdogs and workers are kept
// from step to step), the stacks, the kernels nor the loop (results, the
// metrics of a step, the straggler watch). The first step allocates the
// stashes, the kernels' scratch and the records' arrays.
//
// It counts as testing.AllocsPerRun does, on one P (GOMAXPROCS 1), and
// with the collector off while it trains: with several Ps the runtime's
// per-P caches of blocked goroutines' records, and the kernels' scratch
// free lists, reach their most in an order the scheduler decides, and a
// collection empties the runtime's caches; what the runtime then allocates
// again is not a step's.
func TestStepsAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	const steps = 30
	for _, c := range noAllocCases {
		t.Run(c.name, func(t *testing.T) {
			defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(1))
			tr, err := NewTrainer(noAllocConfig(t, c.devices, c.schedule, steps))
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
			var per [steps + 1]uint64 // per[s]: allocations of step s (from the Progress call of s-1 to its own)
			var noticed [steps + 1]bool
			var ms goruntime.MemStats
			var before uint64
			_, err = tr.Run(context.Background(), func(p Progress) {
				goruntime.ReadMemStats(&ms)
				if p.Step > 1 {
					per[p.Step] = ms.Mallocs - before
				}
				// A warning (a straggler: the machine is shared) is a
				// message made for the user, not the steady state.
				noticed[p.Step] = p.Warning != "" || p.Notice != ""
				before = ms.Mallocs
			})
			if err != nil {
				t.Fatal(err)
			}
			var total uint64
			for s, n := range per { // the last step's finish (evaluation, report) is after its Progress
				if s >= 2 && !noticed[s] {
					total += n
				}
			}
			if total != 0 {
				t.Errorf("steps 2..%d allocated %d times in all; per step from step 2: %v (noticed: %v)", steps, total, per[2:], noticed[2:])
			}
		})
	}
}

// BenchmarkStep times training steps of tiny on virtual CPU devices
// through the executor, as the loop runs them (into a reused result), and
// reports the allocations per step (allocs/op: 0 in steady state).
func BenchmarkStep(b *testing.B) {
	cfg := model.Presets["tiny"]
	const batch = 4
	for _, c := range noAllocCases {
		b.Run(c.name, func(b *testing.B) {
			p, m := 1, 1
			if c.schedule != "naive" {
				p, m = 2, 2
			}
			pl := newPipeline(b, cfg, c.schedule, p, m, batch)
			var res StepResult
			step := func() {
				pl.in.AdamStep++
				if _, err := pl.ex.RunInto(pl.in, &res); err != nil {
					b.Fatal(err)
				}
			}
			step() // the first step allocates the stashes and the scratch
			b.ReportAllocs()
			for b.Loop() {
				step()
			}
			b.ReportMetric(float64(b.N*batch*cfg.MaxT)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
