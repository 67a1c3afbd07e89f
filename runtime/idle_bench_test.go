// Benchmarks of the idle time measured per device beside the analytic bubble, and the stash each schedule keeps.

package runtime

import (
	"fmt"
	goruntime "runtime"
	"testing"

	"baton/model"
	"baton/runtime/report"
)

// idleModel has 8 equal blocks and a cheap head, so stages are equal.
var idleModel = model.Config{V: 256, MaxT: 64, C: 64, NH: 4, L: 8}

// BenchmarkIdle reports each device's measured idle fraction and the mean
// (the bubble) beside the analytic value. Virtual devices share the host's
// cores: with more devices than cores, a device that idles gives its core to
// the others, which makes them faster, so measured idle can differ from the
// formula, which assumes each device has its own processor.
func BenchmarkIdle(b *testing.B) {
	type bench struct {
		schedule string
		p, m, v  int
	}
	cases := []bench{{"naive", 1, 1, 1}, {"naive", 2, 1, 1}, {"naive", 4, 1, 1}}
	for _, s := range []string{"gpipe", "1f1b", "interleaved", "zb-h1", "zb-h2"} {
		v := 1
		if s == "interleaved" {
			v = 2
		}
		for _, m := range []int{4, 8, 16} {
			cases = append(cases, bench{s, 4, m, v})
		}
	}
	for _, c := range cases {
		b.Run(fmt.Sprintf("%s/p=%d/m=%d/v=%d", c.schedule, c.p, c.m, c.v), func(b *testing.B) {
			pl := newChunkedPipeline(b, idleModel, c.schedule, c.p, c.m, c.v, 16)
			pl.step(b) // the first step allocates the stashes
			var steps []*report.Step
			b.ResetTimer()
			for b.Loop() {
				steps = append(steps, &pl.step(b).Step)
			}
			b.StopTimer()
			devs := make([]report.DeviceInfo, len(pl.devs))
			for d, dev := range pl.devs {
				devs[d].Name = dev.Name()
			}
			rep, err := report.Build(pl.ex.Sched, devs, steps)
			if err != nil {
				b.Fatal(err)
			}
			for d, st := range rep.PerDevice {
				b.ReportMetric(st.IdleFrac*100, fmt.Sprintf("idle%%/dev%d", d))
			}
			b.ReportMetric(rep.BubbleMeasured*100, "bubble%")
			b.ReportMetric(rep.BubbleSimulated*100, "simulated%")
			b.ReportMetric(rep.BubbleAnalytic*100, "analytic%")
			stash := 0
			for _, st := range pl.stages {
				stash = max(stash, st.Stashes())
			}
			b.ReportMetric(float64(stash), "max-stash")
			b.ReportMetric(float64(goruntime.GOMAXPROCS(0)), "cores")
		})
	}
}

// The stash each stage keeps is what separates 1F1B from GPipe: with p=4
// and m=16, GPipe holds all 16 micro-batches on every stage, 1F1B the p−s in
// flight on stage s, plus, after the first stage, one for the activation that
// arrives while the stage is still busy (sends never block, and an arriving
// activation takes its stash). Memory is counted, not timed, so this is a test.
func TestStashGPipeVersus1F1B(t *testing.T) {
	const p, m = 4, 16
	peak := map[string][]int64{}
	for _, s := range []string{"gpipe", "1f1b"} {
		pl := newPipeline(t, idleModel, s, p, m, 16)
		pl.step(t)
		for i, st := range pl.stages {
			lo, hi := m, m
			if s == "1f1b" {
				lo, hi = p-i, p-i
				if i > 0 {
					hi++ // whether an activation arrives early depends on timing
				}
			}
			if got := st.Stashes(); got < lo || got > hi {
				t.Errorf("%s stage %d: %d micro-batches stashed at peak, want %d..%d", s, i, got, lo, hi)
			}
			_, pk := pl.devs[i].Memory()
			peak[s] = append(peak[s], pk)
		}
	}
	for i := range p {
		if peak["1f1b"][i] >= peak["gpipe"][i] {
			t.Errorf("stage %d: 1f1b peak %d bytes is not below gpipe's %d", i, peak["1f1b"][i], peak["gpipe"][i])
		}
		t.Logf("stage %d peak memory: gpipe %.1f MiB, 1f1b %.1f MiB", i, float64(peak["gpipe"][i])/(1<<20), float64(peak["1f1b"][i])/(1<<20))
	}
}
