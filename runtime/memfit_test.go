// The fit check: partitions of one GPU share its memory, a device that cannot hold its stages is refused naming it, and the plan's estimate holds what a run's devices allocate.

package runtime

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"

	"baton/internal/field"
	"baton/kernels"
	"baton/model"
	"baton/runtime/device"
)

// TestCheckDeviceFit plans gpt2-350m over two partitions of GPU 0 and the
// whole of GPU 1 with a fake memory per GPU: GPU 0 must hold both of its
// partitions' stages, so a memory that either alone fits but not both is
// refused, as a batch field error naming cuda:0 and both figures.
func TestCheckDeviceFit(t *testing.T) {
	devs := []device.Name{
		{Kind: device.KindCUDA, Index: 0, Parts: 2, Part: 0},
		{Kind: device.KindCUDA, Index: 0, Parts: 2, Part: 1},
		{Kind: device.KindCUDA, Index: 1, Part: -1},
	}
	pl, err := model.Partition(model.Presets["gpt2-350m"], device.Strings(devs), model.PlanOptions{B: 2, Stashes: []int{3, 3, 3}})
	if err != nil {
		t.Fatal(err)
	}
	mems := DeviceMemory(devs, pl)
	if len(mems) != 2 || mems[0].Device != "cuda:0" || mems[1].Device != "cuda:1" {
		t.Fatalf("devices %+v, want cuda:0 (stages 0, 1) and cuda:1", mems)
	}
	if got, want := mems[0].Bytes, pl.Stages[0].MemBytes+pl.Stages[1].MemBytes; got != want {
		t.Errorf("cuda:0 needs %d bytes, want its two partitions' %d", got, want)
	}
	gpu0 := mems[0].Bytes
	if err := CheckDeviceFit(mems, map[string]int64{"cuda:0": gpu0, "cuda:1": mems[1].Bytes}, pl, "fp32"); err != nil {
		t.Errorf("exactly enough memory refused: %v", err)
	}
	if err := CheckDeviceFit(mems, map[string]int64{"cuda:1": 1}, pl, "fp32"); err == nil || !strings.Contains(err.Error(), "cuda:1 needs") {
		t.Errorf("a 1-byte cuda:1 (cuda:0 unknown, unchecked): %v", err)
	}
	// bf16 halves the activations: what fits in bf16 need not in fp32.
	if bf := mems[0].MemFor("bf16"); bf >= gpu0 {
		t.Errorf("cuda:0 needs %d bytes in bf16, not less than fp32's %d", bf, gpu0)
	} else if err := CheckDeviceFit(mems, map[string]int64{"cuda:0": bf}, pl, "bf16"); err != nil {
		t.Errorf("enough memory for bf16 refused in bf16: %v", err)
	} else if err := CheckDeviceFit(mems, map[string]int64{"cuda:0": bf}, pl, "fp32"); err == nil {
		t.Error("the bf16 figure passed for an fp32 run")
	}
	err = CheckDeviceFit(mems, map[string]int64{"cuda:0": gpu0 - 1, "cuda:1": 80 << 30}, pl, "fp32")
	var fe *field.Error
	if !errors.As(err, &fe) || fe.Field != "batch" {
		t.Fatalf("cuda:0 a byte short: %v, want a batch field error", err)
	}
	for _, want := range []string{"cuda:0 needs about " + model.HumanBytes(gpu0), "but has " + model.HumanBytes(gpu0-1), "stages 0 (layers", "{devices}"} {
		if !strings.Contains(fe.Render(func(f string) string { return "{" + f + "}" }), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// estimateRun is a short run of the tiny model whose plan must hold every
// device's measured peak.
type estimateRun struct {
	devices, schedule string
	layers, batch, m  int
	prec              kernels.Precision
	headSlack         float64 // the slack of the last stage's device; 0: estimateSlack
	vocab             int     // the model's V, where not tiny's 256: above the bytes' 256, the head masks the rest
}

// estimateSlack is how far above a device's measured peak its estimate may
// lie: the estimate counts every buffer a stage allocates, and beyond them
// only, in bf16, the backend's scratch for a transfer to another process
// that a run in one process does not make, and on CPU devices the CUDA
// allocator's rounding and backend scratch they do not allocate.
const estimateSlack = 1.05

// splitSlack is the last stage's slack under zb-h1 on two devices with 4
// micro-batches. A stash keeps a split backward's linear gradients from the
// first I it runs on, and the pool hands out the stash released last, so
// as many stashes keep them as the stage ever held at once: 2 to 4 as the
// first stage runs ahead of the last's W or not (its lists' 2 in flight,
// schedule.StashBound's 4). The estimate counts the 4 it reserves; a run
// holds 2 or 3 (1.18× or 1.08×), as the two devices' timing falls.
const splitSlack = 1.2

// checkEstimate trains r for a step (every buffer is made in the first) and an evaluation, and checks each
// device's peak (what its allocator held at most) against the plan's
// estimate for its stages in the run's precision: at or below it, and
// within estimateSlack of it (r.headSlack on the last stage's device).
func checkEstimate(t *testing.T, data string, r estimateRun) {
	t.Helper()
	names, err := device.Expand(r.devices)
	if err != nil {
		t.Fatal(err)
	}
	cfg := model.Presets["tiny"]
	cfg.L, cfg.V = r.layers, cmp.Or(r.vocab, cfg.V)
	sum := train(t, TrainConfig{Preset: "custom", Model: cfg, Devices: names, Schedule: r.schedule, Microbatches: r.m,
		Batch: r.batch, Context: cfg.MaxT, Steps: 1, LR: 3e-3, MinLR: 3e-4, Warmup: 1, WeightDecay: 0.1, MaxGradNorm: 1,
		Seed: 5, Data: data, EvalBatches: 1, Out: t.TempDir(), Precision: r.prec}, 0)
	for _, d := range sum.PerDevice {
		var est int64
		slack := estimateSlack
		for _, s := range sum.Plan.Stages {
			if s.Device == d.Device {
				est += s.MemFor(sum.Precision)
				if s.Head {
					slack = cmp.Or(r.headSlack, slack)
				}
			}
		}
		ratio := float64(est) / float64(d.PeakBytes)
		t.Logf("%s: estimate %d bytes, peak %d (%.3f×)", d.Device, est, d.PeakBytes, ratio)
		if d.PeakBytes > est || ratio > slack {
			t.Errorf("%s in %s: peak %d bytes against an estimate of %d (%.3f×): want the peak at most the estimate, and the estimate at most %.2f× the peak",
				d.Device, sum.Precision, d.PeakBytes, est, ratio, slack)
		}
	}
}

// TestMemoryEstimateHoldsCPUPeak: on CPU devices, which count every buffer
// the stages allocate, the plan's estimate holds the peak of one stage
// with a large micro-batch and of a pipeline, split backwards included,
// and of a head that masks a padded vocabulary.
func TestMemoryEstimateHoldsCPUPeak(t *testing.T) {
	data := corpus(t)
	for _, r := range []estimateRun{
		{devices: "cpu:0", schedule: "1f1b", layers: 2, batch: 128, m: 1},
		{devices: "cpu:0", schedule: "1f1b", layers: 2, batch: 16, m: 1, vocab: 4096},
		{devices: "cpu:0,cpu:1", schedule: "1f1b", layers: 8, batch: 64, m: 4},
		{devices: "cpu:0,cpu:1", schedule: "zb-h1", layers: 8, batch: 64, m: 4, headSlack: splitSlack},
	} {
		t.Run(fmt.Sprintf("%s/%s/B=%d/m=%d/V=%d", r.devices, r.schedule, r.batch, r.m, r.vocab), func(t *testing.T) { checkEstimate(t, data, r) })
	}
}

// TestLongContextCountsTheAttentionScratch: the CPU kernels' attention
// holds two (T, T) matrices per worker, which the host's need counts: at a
// context of 16,384 on one device, 2 GiB per worker, where tiny's stages
// take some 260 MiB (a run measured 4.7 GB resident on 2 CPUs against a
// plan of 257 MiB before); a context of 2^20 is refused before the run
// allocates, naming --context, where it died out of memory in its step,
// but 2^20 positions trained on 16 tokens are not.
func TestLongContextCountsTheAttentionScratch(t *testing.T) {
	c := model.Presets["tiny"]
	c.MaxT = 16384
	pl, err := model.Partition(c, []string{"cpu:0"}, model.PlanOptions{B: 1, T: c.MaxT, Stashes: []int{1}, Microbatches: 1})
	if err != nil {
		t.Fatal(err)
	}
	if need, scratch := HostFit(pl).NeedBytes, int64(8*16384*16384*goruntime.GOMAXPROCS(0)); need < scratch {
		t.Errorf("the host's need at a context of 16384 is %d bytes, less than the attention's scratch alone, %d", need, scratch)
	}
	// The scratch is the context's, not the positions': 2^20 positions
	// trained on 16 tokens fit.
	short := resumeConfig(t, corpus(t), filepath.Join(t.TempDir(), "short"), "cpu:0", 1)
	short.Model.MaxT, short.Context = 1<<20, 16
	if tr, err := NewTrainer(short); err != nil {
		t.Errorf("2^20 positions at a context of 16: %v; want it to fit", err)
	} else {
		tr.Close()
	}
	cfg := resumeConfig(t, corpus(t), filepath.Join(t.TempDir(), "run"), "cpu:0", 1)
	cfg.Model.MaxT, cfg.Context = 1<<20, 1<<20
	cfg.Batch, cfg.Microbatches = 1, 1
	_, err = NewTrainer(cfg)
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "attention's (T, T) scratch") || !strings.Contains(err.Error(), "context") {
		t.Fatalf("NewTrainer at a context of 2^20: %v; want a refusal naming the attention's scratch and the context", err)
	}
}

// TestMemoryFixesNameWhatCanHelp: the advice of a refusal names only what
// can lower the stages' memory enough: no smaller micro-batch where one is
// a single sequence, no recomputation where blocks recompute already, and
// only a smaller model (or more GPUs) where the parameters with their
// state alone are too many.
func TestMemoryFixesNameWhatCanHelp(t *testing.T) {
	cfg := model.Presets["small"]
	plan := func(B int, r model.Recompute) *model.Plan {
		pl, err := model.Partition(cfg, []string{"d0", "d1"}, model.PlanOptions{B: B, T: cfg.MaxT, Recompute: r})
		if err != nil {
			t.Fatal(err)
		}
		return pl
	}
	state := 16 * (plan(1, 0).Stages[0].Params + plan(1, 0).Stages[1].Params)
	for _, c := range []struct {
		pl   *model.Plan
		have int64
		gpus bool
		want string
	}{
		{plan(4, model.RecomputeNone), state + 1, false, "lower {batch} or raise {microbatches} (micro-batches of 4 sequences), lower {context}, recompute in the backward ({recompute} block), or choose a smaller model"},
		{plan(1, model.RecomputeBlock), state + 1, true, "lower {context}, spread the layers over more GPUs with {devices} or {split}, or choose a smaller model"},
		{plan(4, model.RecomputeNone), state - 1, false, "the parameters with their gradients and AdamW state alone take " + model.HumanBytes(state) + ": choose a smaller model"},
		{plan(4, model.RecomputeNone), state - 1, true, "the parameters with their gradients and AdamW state alone take " + model.HumanBytes(state) + ": spread the layers over more GPUs with {devices} or {split}, or choose a smaller model"},
	} {
		if got := memoryFixes(c.pl, c.pl.Stages, c.have, c.gpus); got != c.want {
			t.Errorf("B=%d, recompute %v, %d bytes, GPUs %v:\n%s\nwant\n%s", c.pl.B, c.pl.Recompute, c.have, c.gpus, got, c.want)
		}
	}
}
