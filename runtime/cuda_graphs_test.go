//go:build cuda

// CUDA graphs in the executor: training with each compute action replayed as a graph gives the losses and parameters of training without, bit for bit; and the benchmark of what graphs save in launches.

package runtime

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"

	"baton/kernels"
	"baton/model"
	"baton/runtime/device"
	"baton/runtime/device/cuda"
)

// graphRun is what training with or without graphs gave.
type graphRun struct {
	losses []float64 // every step's, then the evaluation's
	params [][]float32
	stats  cuda.GraphStats // summed over the devices
}

// trainGraphs trains the tiny model (L=4) on list under sched for steps
// steps, evaluates, and trains one step more (so graphs of training serve
// again after the evaluation's), with or without graphs.
func trainGraphs(t *testing.T, list, sched string, m, steps int, graphs bool) graphRun {
	t.Helper()
	devs := openCUDA(t, list)
	defer device.CloseAll(asDevices(devs))
	p := pipelineOn(t, tinyL4(), sched, asDevices(devs), m, 1, 4)
	p.ex.CUDAGraphs = graphs
	var out graphRun
	for range steps {
		out.losses = append(out.losses, p.step(t).Loss)
	}
	eval, err := p.ex.Evaluate(p.in)
	if err != nil {
		t.Fatal(err)
	}
	out.losses = append(out.losses, eval, p.step(t).Loss)
	for _, st := range p.stages {
		for i := range st.Stack.P.T {
			out.params = append(out.params, st.Stack.Read(st.Stack.P, i))
		}
	}
	for _, d := range devs {
		s := d.GraphStats()
		out.stats.Captured += s.Captured
		out.stats.Replayed += s.Replayed
		out.stats.Refused += s.Refused
	}
	return out
}

// TestCUDAGraphsMatchDirect trains the tiny model with and without CUDA
// graphs, on the whole GPU and on two partitions, under 1f1b and zb-h1
// (whose split backward captures I and W apart): every loss, the
// evaluation's, and every parameter after it must be the same bits, and the
// graphs must have been replayed, none refused.
func TestCUDAGraphsMatchDirect(t *testing.T) {
	const steps = 5
	for _, c := range []struct {
		list, schedule string
		m              int
	}{{"cuda:0", "1f1b", 2}, {"cuda:0", "1f1b", 4}, {"cuda:0/2", "1f1b", 4}, {"cuda:0/2", "zb-h1", 4}} {
		t.Run(fmt.Sprintf("%s/%s/m=%d", c.list, c.schedule, c.m), func(t *testing.T) {
			direct := trainGraphs(t, c.list, c.schedule, c.m, steps, false)
			graphed := trainGraphs(t, c.list, c.schedule, c.m, steps, true)
			if !slices.Equal(direct.losses, graphed.losses) {
				t.Fatalf("losses with graphs %v, without %v", graphed.losses, direct.losses)
			}
			for i := range direct.params {
				if !slices.Equal(direct.params[i], graphed.params[i]) {
					t.Fatalf("parameter tensor %d differs with graphs", i)
				}
			}
			s := graphed.stats
			t.Logf("graphs: %+v (without: %+v)", s, direct.stats)
			if s.Refused != 0 || s.Captured == 0 || s.Replayed < s.Captured {
				t.Fatalf("graph stats %+v: want captures replayed, none refused", s)
			}
			if direct.stats != (cuda.GraphStats{}) {
				t.Fatalf("graphs were used with the executor's CUDAGraphs off: %+v", direct.stats)
			}
		})
	}
}

// BenchmarkCUDAGraphs measures what graphs save in launch cost: training
// steps of a model on one SM partition at m = 1, 4, 8 and 16 micro-batches,
// graphs on and off, reported as tokens/s (and graph replays per step). The
// GPU check runs it as
//
//	BATON_GRAPHS_DEVICE=cuda:0/4#0 BATON_GRAPHS_MODEL=gpt2-124m BATON_GRAPHS_BATCH=16 \
//	  BATON_GRAPHS_PRECISION=bf16 runtime.test -test.run '^$' -test.bench CUDAGraphs -test.benchtime 5x
//
// in bf16, where kernels are quickest and launches weigh most. The
// defaults (the tiny model, batch 16, cuda:0/4#0, fp32) suit cudaemu,
// where the numbers mean nothing but the benchmark must run.
func BenchmarkCUDAGraphs(b *testing.B) {
	list := envOr("BATON_GRAPHS_DEVICE", "cuda:0/4#0")
	name := envOr("BATON_GRAPHS_MODEL", "tiny")
	cfg, ok := model.Presets[name]
	if !ok {
		b.Fatalf("BATON_GRAPHS_MODEL %q is not a preset", name)
	}
	batch, err := strconv.Atoi(envOr("BATON_GRAPHS_BATCH", "16"))
	if err != nil {
		b.Fatal(err)
	}
	prec, err := kernels.ParsePrecision(envOr("BATON_GRAPHS_PRECISION", "fp32"))
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range []int{1, 4, 8, 16} {
		for _, graphs := range []bool{false, true} {
			mode := "off"
			if graphs {
				mode = "on"
			}
			b.Run(fmt.Sprintf("m=%d/graphs=%s", m, mode), func(b *testing.B) {
				devs := openCUDAIn(b, list, prec)
				defer device.CloseAll(asDevices(devs))
				p := pipelineOn(b, cfg, "1f1b", asDevices(devs), m, 1, batch)
				p.ex.CUDAGraphs = graphs
				for range 3 { // the second step captures
					p.step(b)
				}
				before := devs[0].GraphStats().Replayed
				b.ResetTimer()
				for range b.N {
					p.step(b)
				}
				b.StopTimer()
				s := b.Elapsed().Seconds()
				b.ReportMetric(float64(b.N*batch*cfg.MaxT)/s, "tokens/s")
				b.ReportMetric(float64(devs[0].GraphStats().Replayed-before)/float64(b.N), "replays/step")
			})
		}
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
