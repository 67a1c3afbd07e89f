// Several processes: ranks joined over loopback train bit-identically to one process with the same plan, and refuse a rank started otherwise.

package runtime

import (
	"context"
	"fmt"
	"maps"
	"math"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"baton/model"
	"baton/runtime/device"
	"baton/runtime/dist"
)

// freePort is a TCP port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// runRanks runs cfgs[r] as rank r of len(cfgs), each in a goroutine as
// each would in its own process, and returns every rank's summary and error.
func runRanks(t *testing.T, cfgs []TrainConfig) ([]*Summary, []error) {
	t.Helper()
	port := freePort(t)
	sums, errs := make([]*Summary, len(cfgs)), make([]error, len(cfgs))
	var wg sync.WaitGroup
	for r := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := dist.Env{Rank: r, WorldSize: len(cfgs), LocalRank: r, LocalWorldSize: len(cfgs), MasterAddr: "127.0.0.1", MasterPort: port}
			cfg := cfgs[r]
			g, err := Join(context.Background(), env, cfg, 20*time.Second)
			if err != nil {
				errs[r] = err
				return
			}
			defer g.Close()
			g.Timeout = 20 * time.Second
			cfg.Group = g
			tr, err := NewTrainer(cfg)
			if err != nil {
				errs[r] = err
				return
			}
			defer tr.Close()
			sums[r], errs[r] = tr.Run(context.Background(), nil)
		}()
	}
	wg.Wait()
	return sums, errs
}

// joinTrainers makes cfgs[r] rank r of len(cfgs), each joined in a
// goroutine as each would in its own process, and returns their trainers,
// closed when the test ends.
func joinTrainers(t *testing.T, cfgs []TrainConfig) []*Trainer {
	t.Helper()
	port := freePort(t)
	trainers := make([]*Trainer, len(cfgs))
	onEach(trainers, func(r int, _ *Trainer) {
		env := dist.Env{Rank: r, WorldSize: len(cfgs), LocalRank: r, LocalWorldSize: len(cfgs), MasterAddr: "127.0.0.1", MasterPort: port}
		cfg := cfgs[r]
		g, err := Join(context.Background(), env, cfg, 20*time.Second)
		if err != nil {
			t.Errorf("rank %d: %v", r, err)
			return
		}
		t.Cleanup(func() { g.Close() })
		g.Timeout, cfg.Group = 20*time.Second, g
		if trainers[r], err = NewTrainer(cfg); err != nil {
			t.Errorf("rank %d: %v", r, err)
			return
		}
		t.Cleanup(trainers[r].Close)
	})
	if t.Failed() {
		t.FailNow()
	}
	return trainers
}

// onEach runs f for every rank's trainer at once, as the ranks' processes would.
func onEach(trainers []*Trainer, f func(r int, tr *Trainer)) {
	var wg sync.WaitGroup
	for r := range trainers {
		wg.Go(func() { f(r, trainers[r]) })
	}
	wg.Wait()
}

func TestRanksTrainAsOneProcess(t *testing.T) {
	data := corpus(t)
	for _, c := range []struct {
		schedule      string
		chunks        int
		perRank       []string
		optimizerStep string
	}{
		{"1f1b", 1, []string{"cpu:0,cpu:1", "cpu:0,cpu:1"}, ""},
		{"zb-h1", 1, []string{"cpu:0", "cpu:0", "cpu:0", "cpu:0"}, ""},
		{"interleaved", 2, []string{"cpu:0", "cpu:0"}, ""},
		// Steps that clip are redone on every rank (--optimizer-step eager).
		{"1f1b", 1, []string{"cpu:0", "cpu:0,cpu:1", "cpu:0"}, "eager"},
	} {
		t.Run(c.schedule+c.optimizerStep, func(t *testing.T) {
			dir := t.TempDir()
			one := resumeConfig(t, data, filepath.Join(dir, "one"), "cpu:0..3", 4)
			one.Model.L, one.Schedule, one.Chunks, one.Microbatches, one.OptimizerStep = 8, c.schedule, c.chunks, 4, c.optimizerStep
			if c.chunks > 1 {
				one.Devices = one.Devices[:len(c.perRank)]
			}
			want := train(t, one, 0)
			cfgs := make([]TrainConfig, len(c.perRank))
			for r, devs := range c.perRank {
				cfgs[r] = resumeConfig(t, data, filepath.Join(dir, "ranks"), devs, 4)
				cfgs[r].Model, cfgs[r].Schedule, cfgs[r].Chunks, cfgs[r].Microbatches, cfgs[r].OptimizerStep = one.Model, c.schedule, c.chunks, 4, c.optimizerStep
			}
			sums, errs := runRanks(t, cfgs)
			for r, err := range errs {
				if err != nil {
					t.Fatalf("rank %d: %v", r, err)
				}
			}
			if c.optimizerStep == "eager" && (want.OptimizerRedone == 0 || sums[0].OptimizerRedone != want.OptimizerRedone) {
				t.Errorf("the ranks redid %d steps, one process %d; want as many, and some", sums[0].OptimizerRedone, want.OptimizerRedone)
			}
			for r, sum := range sums {
				for i := range want.Losses {
					if sum.Losses[i] != want.Losses[i] {
						t.Errorf("rank %d, step %d: loss %v, one process %v", r, i+1, sum.Losses[i], want.Losses[i])
					}
				}
			}
			got, err1 := model.LoadResume(CheckpointDir(filepath.Join(dir, "ranks")))
			ref, err2 := model.LoadResume(CheckpointDir(filepath.Join(dir, "one")))
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if len(got.Params) != len(ref.Params) {
				t.Fatalf("the ranks' checkpoint has %d tensors, one process's %d", len(got.Params), len(ref.Params))
			}
			for name, w := range ref.Params {
				for j := range w {
					if got.Params[name][j] != w[j] || got.M[name][j] != ref.M[name][j] || got.V[name][j] != ref.V[name][j] {
						t.Fatalf("%s[%d] differs from one process's", name, j)
					}
				}
			}
			lines, err := readMetrics(filepath.Join(dir, "ranks", MetricsFile), want.Steps)
			if err != nil || len(lines) == 0 {
				t.Fatalf("the ranks' metrics.jsonl: %d lines, %v", len(lines), err)
			}
			for _, m := range lines { // rank 0 times its own devices only
				for d, idle := range m.Idle {
					if own := d < strings.Count(c.perRank[0], ",")+1; own == math.IsNaN(float64(idle)) || own && (idle < 0 || idle > 1) {
						t.Errorf("step %d: device %d's idle is %v; want rank 0's own in [0, 1] and the other ranks' unknown (null)", m.Step, d, idle)
					}
				}
			}
			lead := sums[0]
			if lead.Report == nil || len(lead.Report.PerDevice) != len(want.Devices) || lead.Devices[0] != "rank0/cpu:0" {
				t.Fatalf("rank 0's report covers %v; want every rank's devices, rank0/cpu:0 first", lead.Devices)
			}
			for d, st := range lead.Report.PerDevice {
				if st.ComputeS <= 0 {
					t.Errorf("device %d (%s) has no compute in the merged report", d, st.Device)
				}
			}
			// Each boundary between ranks, both ways, is reported once with
			// its sends through the mesh: a micro-batch's (B,T,C) each.
			p := len(lead.Devices)
			rankOf := func(d int) int { return int(lead.Devices[d][len("rank")] - '0') }
			pairs := map[string]bool{}
			for s := range p*c.chunks - 1 {
				if a, b := s%p, (s+1)%p; rankOf(a) != rankOf(b) {
					pairs[lead.Devices[a]+" → "+lead.Devices[b]], pairs[lead.Devices[b]+" → "+lead.Devices[a]] = true, true
				}
			}
			each := int64(one.Batch / one.Microbatches * one.Context * one.Model.C * 4)
			reported := map[string]bool{}
			for _, tr := range lead.Transfers {
				reported[tr.From+" → "+tr.To] = true
				if !strings.HasPrefix(tr.Path, "host") || tr.Copies == 0 || tr.Bytes != int64(tr.Copies)*each || !(tr.Seconds > 0) {
					t.Errorf("%s: %d sends, %d bytes, %v s; want some through the host, of %d bytes each, taking time", tr, tr.Copies, tr.Bytes, tr.Seconds, each)
				}
			}
			if !maps.Equal(reported, pairs) {
				t.Errorf("rank 0's summary reports sends %v; want one entry for each of %v", slices.Sorted(maps.Keys(reported)), slices.Sorted(maps.Keys(pairs)))
			}
		})
	}
}

// TestRankStartedOtherwiseIsRefused: every rank refuses a rank started
// with another setting, other data (by its tokens), another run directory,
// or a resume where rank 0 starts afresh, naming both values.
func TestRankStartedOtherwiseIsRefused(t *testing.T) {
	data := corpus(t)
	for _, c := range []struct {
		name   string
		change func(*TrainConfig)
		want   string
	}{
		{"lr", func(c *TrainConfig) { c.LR = 2e-3 }, "rank 1 was started with lr 0.002 but rank 0 with 0.003"},
		{"data", func(c *TrainConfig) { c.Data = "" }, "the ranks read different data: the sha256 of rank 0's tokens is "},
		{"out", func(c *TrainConfig) { c.Out += "-other" }, "rank 1 was started with out "},
		{"resume", func(c *TrainConfig) { c.Resume = true }, "rank 1 was started with resume but rank 0 without; continue the run on every rank, or on none"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			a := resumeConfig(t, data, out, "cpu:0", 4)
			b := resumeConfig(t, data, out, "cpu:0", 4)
			c.change(&b)
			_, errs := runRanks(t, []TrainConfig{a, b})
			for r, err := range errs {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("rank %d: %v; want %q", r, err, c.want)
				}
			}
		})
	}
}

// TestRanksWeighTheirOwnStages: each rank's memory check gets its own
// stages, named as its devices are here, so that the check finds each
// device's memory (it looked up "rank1/cuda:0" before, and checked nothing).
func TestRanksWeighTheirOwnStages(t *testing.T) {
	data := corpus(t)
	cfgs := make([]TrainConfig, 2)
	out := filepath.Join(t.TempDir(), "run") // one run directory, as every rank must name
	for r := range cfgs {
		cfgs[r] = resumeConfig(t, data, out, "cpu:0,cpu:1", 2)
	}
	for r, tr := range joinTrainers(t, cfgs) {
		own := tr.cfg.Group.own(tr.plan)
		var got []string
		for _, s := range own.Stages {
			got = append(got, fmt.Sprintf("%d:%s", s.Index, s.Device))
		}
		want := []string{fmt.Sprintf("%d:cpu:0", 2*r), fmt.Sprintf("%d:cpu:1", 2*r+1)}
		if !slices.Equal(got, want) {
			t.Errorf("rank %d weighs stages %v, want %v", r, got, want)
		}
		if mem := DeviceMemory(tr.cfg.Devices, own); len(mem) != 2 || mem[0].Device != "cpu:0" || mem[1].Device != "cpu:1" {
			t.Errorf("rank %d: its devices' memory %+v, want cpu:0 and cpu:1's", r, mem)
		}
	}
}

// TestJoinBoundsSendsByTheTimeout: a send to a rank that stopped reading
// blocks once the connection's buffers fill, where no receive's watchdog
// sees it; Join gives the mesh --timeout for it (dist's TestSendTimeout
// shows the mesh failing such a send), and 0 still means no limit.
func TestJoinBoundsSendsByTheTimeout(t *testing.T) {
	data := corpus(t)
	for _, timeout := range []time.Duration{3 * time.Second, 0} {
		out := filepath.Join(t.TempDir(), "run")
		port := freePort(t)
		var wg sync.WaitGroup
		for r := range 2 {
			wg.Go(func() {
				cfg := resumeConfig(t, data, out, "cpu:0", 4)
				cfg.Timeout = timeout
				env := dist.Env{Rank: r, WorldSize: 2, LocalRank: r, LocalWorldSize: 2, MasterAddr: "127.0.0.1", MasterPort: port}
				g, err := Join(context.Background(), env, cfg, 20*time.Second)
				if err != nil {
					t.Errorf("rank %d: %v", r, err)
					return
				}
				defer g.Close()
				if g.Mesh.SendTimeout != timeout {
					t.Errorf("rank %d with --timeout %v: the mesh's sends wait %v", r, timeout, g.Mesh.SendTimeout)
				}
			})
		}
		wg.Wait()
	}
}

// TestRanksProfileTheirOwnKernels: with --profile-kernels on ranks, rank
// 0's roofline lists the kernels of its own stages, each timed, not every
// rank's (whose calls it did not time) beside its own times.
func TestRanksProfileTheirOwnKernels(t *testing.T) {
	data := corpus(t)
	dir := t.TempDir()
	cfgs := make([]TrainConfig, 2)
	for r := range cfgs {
		cfgs[r] = resumeConfig(t, data, dir, "cpu:0", 3)
		cfgs[r].ProfileKernels = true
	}
	sums, errs := runRanks(t, cfgs)
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	rf := sums[0].Roofline
	if rf == nil || len(rf.Kernels) == 0 {
		t.Fatal("rank 0 wrote no roofline")
	}
	for _, k := range rf.Kernels {
		if k.MeasuredS == nil {
			t.Errorf("rank 0's roofline lists %s %s (%s), which it did not time", k.Op, k.Shape, k.Where)
		}
		if k.Op == "CrossEntropyForwardBackward" {
			t.Errorf("rank 0's roofline lists the head's %s, on rank 1", k.Op)
		}
	}
}

// TestReplayOfRanksRescalesSlowDowns: a what-if on a run of two ranks
// (rank0/cpu:0, rank1/cpu:0) takes its devices in order, rescaling each by
// its slow-down against the run's device's: cpu:0~4 for rank 0's cpu:0
// prices its blocks at 4 times, with a note, and predicts a longer step.
func TestReplayOfRanksRescalesSlowDowns(t *testing.T) {
	dir := t.TempDir()
	cfgs := []TrainConfig{resumeConfig(t, corpus(t), dir, "cpu:0", 3), resumeConfig(t, corpus(t), dir, "cpu:0", 3)}
	if _, errs := runRanks(t, cfgs); errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	r, sum, err := LoadReplay(dir)
	if err != nil {
		t.Fatal(err)
	}
	names, err := device.Expand("cpu:0,cpu:1")
	if err != nil {
		t.Fatal(err)
	}
	slowNames, err := device.Expand("cpu:0~4,cpu:1")
	if err != nil {
		t.Fatal(err)
	}
	same, _ := ReplayOn(sum, r, names)
	slow, notes := ReplayOn(sum, r, slowNames)
	a, err1 := same.Predict(sum.Choice())
	b, err2 := slow.Predict(sum.Choice())
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if !(b.StepS > a.StepS) || len(notes) != 1 || !strings.Contains(notes[0], "device 0 (cpu:0~4) is the run's rank0/cpu:0 at 4 times its measured time") {
		t.Errorf("cpu:0~4 for rank 0's cpu:0: %v s against %v s, notes %q; want a longer step and a note", b.StepS, a.StepS, notes)
	}
}
