// Live rebalancing: a run that re-splits itself trains exactly as one that used the final split throughout, and a failed move changes nothing.

package runtime

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"baton/kernels"
	"baton/model"
)

// rebalanceConfig is a run of 8 blocks on 4 devices, the second slowed 4×:
// the FLOPs split 2,2,2,2 leaves it the bottleneck.
func rebalanceConfig(t *testing.T, data, out string) TrainConfig {
	cfg := resumeConfig(t, data, out, "cpu:0,cpu:1~4,cpu:2..3", 8)
	cfg.Model.L = 8
	cfg.Microbatches = 4
	return cfg
}

func TestRebalanceTrainsAsTheFinalSplitThroughout(t *testing.T) {
	data, dir := corpus(t), t.TempDir()
	cfg := rebalanceConfig(t, data, filepath.Join(dir, "live"))
	cfg.Rebalance = Rebalance{Mode: "auto", Warmup: 2, Every: 100, MinGain: 0.01}
	live := train(t, cfg, 0)
	if len(live.Rebalances) != 1 {
		t.Fatalf("the run moved %d times, want once: %+v", len(live.Rebalances), live.Rebalances)
	}
	mv := live.Rebalances[0]
	if slices.Equal(mv.From, mv.To) || mv.To[1] >= mv.From[1] || mv.PredictedGain <= 0 || mv.Via != "devices" {
		t.Fatalf("move %v → %v predicted %.2f via %q: want blocks off the slowed cpu:1 and a gain, device to device", mv.From, mv.To, mv.PredictedGain, mv.Via)
	}
	if got := live.Plan.Split(); !slices.Equal(got, mv.To) {
		t.Errorf("the summary's plan is split %v, want the move's %v", got, mv.To)
	}
	if len(live.LayerCosts) != cfg.Model.Units() {
		t.Errorf("%d layer costs, want one per unit (%d)", len(live.LayerCosts), cfg.Model.Units())
	}

	fixed := rebalanceConfig(t, data, filepath.Join(dir, "fixed"))
	fixed.Split = mv.To
	want := train(t, fixed, 0)
	for i := range want.Losses {
		if live.Losses[i] != want.Losses[i] {
			t.Errorf("step %d: loss %v, the final split throughout gives %v", i+1, live.Losses[i], want.Losses[i])
		}
	}
	sameCheckpoints(t, filepath.Join(dir, "live"), filepath.Join(dir, "fixed"))
}

// sameCheckpoints fails unless the runs in dirs got and want saved the
// same parameters and moments bit for bit.
func sameCheckpoints(t *testing.T, got, want string) {
	t.Helper()
	a, err1 := model.LoadResume(CheckpointDir(got))
	b, err2 := model.LoadResume(CheckpointDir(want))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if len(a.Params) != len(b.Params) {
		t.Fatalf("%s's checkpoint has %d tensors, %s's %d", got, len(a.Params), want, len(b.Params))
	}
	sameTensors(t, a, b)
}

// sameTensors fails unless a and b hold the same parameters and moments bit for bit.
func sameTensors(t *testing.T, a, b *model.Checkpoint) {
	t.Helper()
	for name, w := range b.Params {
		if len(a.Params[name]) != len(w) || len(a.M[name]) != len(w) || len(a.V[name]) != len(w) {
			t.Fatalf("%s: %d parameters, %d and %d moments; want %d of each", name, len(a.Params[name]), len(a.M[name]), len(a.V[name]), len(w))
		}
		for j := range w {
			if a.Params[name][j] != w[j] || a.M[name][j] != b.M[name][j] || a.V[name][j] != b.V[name][j] {
				t.Fatalf("%s[%d]: parameter or moment differs", name, j)
			}
		}
	}
}

// TestRanksRebalanceAsTheFinalSplitThroughout: four ranks of one device
// each, the second slowed 4×, re-split live (every moved block changes
// rank) and train exactly as one process on the final split throughout.
func TestRanksRebalanceAsTheFinalSplitThroughout(t *testing.T) {
	data, dir := corpus(t), t.TempDir()
	cfgs := make([]TrainConfig, 4)
	for r, dev := range []string{"cpu:0", "cpu:0~4", "cpu:0", "cpu:0"} {
		cfgs[r] = rebalanceConfig(t, data, filepath.Join(dir, "live"))
		cfgs[r].Devices = resumeConfig(t, data, "", dev, 0).Devices
		cfgs[r].Rebalance = Rebalance{Mode: "auto", Warmup: 2, Every: 100, MinGain: 0.01}
	}
	sums, errs := runRanks(t, cfgs)
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	mv := sums[0].Rebalances
	if len(mv) != 1 || mv[0].To[1] >= mv[0].From[1] || mv[0].Via != "host" {
		t.Fatalf("rank 0 moved %+v; want one move of blocks off the slowed rank 1, through the host", mv)
	}
	for r, sum := range sums {
		if len(sum.Rebalances) != 1 || !slices.Equal(sum.Rebalances[0].To, mv[0].To) || !slices.Equal(sum.Plan.Split(), mv[0].To) {
			t.Errorf("rank %d moved %+v and ends on split %v; want rank 0's move to %v", r, sum.Rebalances, sum.Plan.Split(), mv[0].To)
		}
	}
	t.Logf("moved %v → %v, predicted gain %.0f%%, measured %.0f%%", mv[0].From, mv[0].To, 100*mv[0].PredictedGain, 100*mv[0].MeasuredGain)
	fixed := rebalanceConfig(t, data, filepath.Join(dir, "fixed"))
	fixed.Split = mv[0].To
	want := train(t, fixed, 0)
	for i := range want.Losses {
		if sums[0].Losses[i] != want.Losses[i] {
			t.Errorf("step %d: loss %v, one process on the final split throughout gives %v", i+1, sums[0].Losses[i], want.Losses[i])
		}
	}
	sameCheckpoints(t, filepath.Join(dir, "live"), filepath.Join(dir, "fixed"))
}

// TestFailedMoveKeepsTheSplit: a move that cannot be made (a split the
// model refuses) leaves the stages, plan and executor as they were, and
// the run steps on.
func TestFailedMoveKeepsTheSplit(t *testing.T) {
	cfg := rebalanceConfig(t, corpus(t), filepath.Join(t.TempDir(), "run"))
	tr, err := NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	stages, plan, ex := tr.stages, tr.plan, tr.ex
	err = tr.resplit([]int{4, 4, 0, 0})
	if err == nil || !strings.Contains(err.Error(), "every stage needs at least one layer") {
		t.Fatalf("resplit to 4,4,0,0: %v", err)
	}
	if !slices.Equal(tr.stages, stages) || tr.plan != plan || tr.ex != ex {
		t.Fatal("a failed move changed the trainer")
	}
	in := tr.stepInput()
	in.AdamStep = 1
	if _, err := tr.trainStep(in, nil); err != nil {
		t.Fatalf("a step after the failed move: %v", err)
	}
}

func TestMeasuredBalanceChecksOnce(t *testing.T) {
	cfg := rebalanceConfig(t, corpus(t), filepath.Join(t.TempDir(), "run"))
	cfg.Balance, cfg.Rebalance.Warmup = "measured", 2
	sum := train(t, cfg, 0)
	if len(sum.Rebalances) != 1 || sum.Rebalances[0].Step != 3 {
		t.Fatalf("--balance measured moved %+v; want one move after step 3 (a first step, then 2 measured)", sum.Rebalances)
	}
	// The report is of the new split, less its first step, which allocates.
	if want := min(cfg.Steps-4, keepSteps); sum.StepsMeasured != want {
		t.Errorf("the report measured %d steps of %d; want the %d after the first on the new split", sum.StepsMeasured, cfg.Steps, want)
	}
}

// TestRanksRefuseAMoveTogether: a rank that cannot hold its new stages
// makes every rank refuse the move, naming it, and a split no rank can
// plan is refused alike; the ranks step on, on the old split.
func TestRanksRefuseAMoveTogether(t *testing.T) {
	cfg := rebalanceConfig(t, corpus(t), filepath.Join(t.TempDir(), "run"))
	cfg.Devices = cfg.Devices[:2]
	trainers := joinTrainers(t, []TrainConfig{cfg, cfg})
	onEach(trainers, func(r int, tr *Trainer) {
		var local error
		if r == 1 {
			local = errors.New("out of memory")
		}
		refused, err := tr.agree(1, msgMoved, local)
		if err != nil || refused == nil || refused.Error() != "rank 1: out of memory" {
			t.Errorf("rank %d: the vote gave %v, %v; want the move refused for rank 1's reason", r, refused, err)
		}
	})
	onEach(trainers, func(r int, tr *Trainer) {
		stages, plan, ex := tr.stages, tr.plan, tr.ex
		_, refused, err := tr.resplitGroup(2, []int{4, 4, 0, 0})
		if err != nil || refused == nil || !strings.Contains(refused.Error(), "every stage needs at least one layer") {
			t.Errorf("rank %d: resplit to 4,4,0,0: %v, %v", r, refused, err)
		}
		if !slices.Equal(tr.stages, stages) || tr.plan != plan || tr.ex != ex {
			t.Errorf("rank %d: a refused move changed the trainer", r)
		}
		in := tr.stepInput()
		in.AdamStep = 1
		if _, err := tr.trainStep(in, nil); err != nil {
			t.Errorf("rank %d: a step after the refused move: %v", r, err)
		}
	})
}

// TestResumeStartsOnTheRebalancedSplit: a balancing run resumed on as many
// stages starts on the split its last move left, not on the FLOPs split
// again; resumed on other devices, it plans afresh.
func TestResumeStartsOnTheRebalancedSplit(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	cfg := rebalanceConfig(t, corpus(t), out)
	cfg.Rebalance = Rebalance{Mode: "auto", Warmup: 2, Every: 100, MinGain: 0.01}
	first := train(t, cfg, 0)
	if len(first.Rebalances) != 1 {
		t.Fatalf("the run moved %d times, want once", len(first.Rebalances))
	}
	moved := first.Rebalances[0].To
	cfg.Resume, cfg.Steps = true, cfg.Steps+2
	tr, err := NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := tr.Plan().Split()
	tr.Close()
	if !slices.Equal(got, moved) {
		t.Errorf("resumed on split %v, want the rebalanced %v", got, moved)
	}
	// Balancing anew, it needs steps for the warm-up and one on the new split.
	cfg.Devices, cfg.Steps = cfg.Devices[:2], cfg.Steps+2
	tr, err = NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if got := tr.Plan().Split(); len(got) != 2 {
		t.Errorf("resumed on 2 devices with split %v", got)
	}
}

// TestStageFitsWeighsEveryRanksGPUs: rank 0 chooses a split within the
// memory of every rank's GPUs as each told it when joining; stages of
// different ranks on one GPU (the same UUID) share its memory, and a bf16
// run weighs its stages' bf16 bytes.
func TestStageFitsWeighsEveryRanksGPUs(t *testing.T) {
	data, dir := corpus(t), t.TempDir()
	cfgs := make([]TrainConfig, 2)
	for r := range cfgs {
		cfgs[r] = resumeConfig(t, data, filepath.Join(dir, "run"), "cpu:0,cpu:1", 2)
		cfgs[r].Model.L, cfgs[r].Split = 8, []int{2, 2, 2, 2}
	}
	trainers := joinTrainers(t, cfgs)
	tr := trainers[0]
	for d, on := range tr.cfg.Group.GPUs {
		if on != (gpuOn{}) {
			t.Errorf("device %d (%s): joined as on GPU %+v; a CPU device is on none", d, tr.cfg.Group.Names[d], on)
		}
	}
	if fits := tr.stageFits(); fits != nil {
		t.Fatal("CPU devices got a per-stage memory bound")
	}

	opts := planOptions(tr.cfg, tr.ex.Sched)
	if opts.Stashes[1] != opts.Stashes[2] {
		t.Fatalf("premise: the middle stages hold %v stashes; want them alike, so that one's bytes stand for both", opts.Stashes)
	}
	middle := func(k int) (fp32, bf16 int64) { return tr.cfg.Model.StageBytes(1, k, false, false, opts) }
	two, _ := middle(2)
	three, threeBF16 := middle(3)
	if threeBF16 >= three {
		t.Fatalf("premise: 3 blocks take %d bytes in bf16, %d in fp32; want fewer in bf16", threeBF16, three)
	}
	// Rank 0's two stages and rank 1's first on GPU a (one host, three
	// shares), rank 1's second on GPU b of its own.
	mem := 3 * two
	tr.cfg.Group.GPUs = onGPUs(mem, "GPU-a", "GPU-a", "GPU-a", "GPU-b")
	fits := tr.stageFits()
	if fits == nil {
		t.Fatal("no memory bound with every device on a GPU")
	}
	for _, c := range []struct {
		stage, blocks int
		want          bool
	}{{1, 2, true}, {1, 3, false}, {2, 2, true}, {2, 3, false}, {3, 3, true}} {
		if got := fits(c.stage, c.blocks); got != c.want {
			t.Errorf("stage %d (%s) holding %d blocks: fits %v, want %v", c.stage, tr.cfg.Group.Names[c.stage], c.blocks, got, c.want)
		}
	}
	mem = 3 * threeBF16
	tr.cfg.Group.GPUs = onGPUs(mem, "GPU-a", "GPU-a", "GPU-a", "GPU-b")
	tr.cfg.Precision = kernels.BF16
	if !tr.stageFits()(2, 3) {
		t.Errorf("bf16: stage 2 cannot hold 3 blocks (%d bytes in bf16) in a third of %d", threeBF16, mem)
	}
	tr.cfg.Precision = kernels.FP32
	if tr.stageFits()(2, 3) {
		t.Errorf("fp32: stage 2 holds 3 blocks (%d bytes) in a third of %d", three, mem)
	}
}

// onGPUs is a device per GPU named, each GPU an H200 of mem bytes.
func onGPUs(mem int64, gpus ...string) []gpuOn {
	out := make([]gpuOn, len(gpus))
	for i, g := range gpus {
		out[i] = gpuOn{GPU: g, Memory: mem, Model: "NVIDIA H200"}
	}
	return out
}

// TestNoCheckAfterTheLastStep: a check due at the last step is not made (a
// move there would leave no step on the new split, and the report none to
// show); the rebalancer never reaches the trainer, which is nil here.
func TestNoCheckAfterTheLastStep(t *testing.T) {
	rb := newRebalancer(TrainConfig{Balance: "measured", Rebalance: Rebalance{Warmup: 1}})
	for step := 1; step <= 2; step++ {
		if msg, moved, err := rb.after(nil, step, &StepResult{}, step == 2); msg != "" || moved || err != nil {
			t.Fatalf("step %d: %q, moved %v, %v", step, msg, moved, err)
		}
	}
}

// TestChecksNeverOverflowTheStepCount: the step of the next check saturates,
// so a huge --rebalance-every means one check, not one every step.
func TestChecksNeverOverflowTheStepCount(t *testing.T) {
	cfg := rebalanceConfig(t, corpus(t), filepath.Join(t.TempDir(), "run"))
	cfg.Steps = 6
	cfg.Rebalance = Rebalance{Mode: "auto", Warmup: 1, Every: math.MaxInt, MinGain: 0.99}
	tr, err := NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var checks []int
	if _, err := tr.Run(context.Background(), func(p Progress) {
		if strings.Contains(p.Notice, "rebalance at step") {
			checks = append(checks, p.Step)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(checks) != 1 {
		t.Fatalf("checks after steps %v with --rebalance-every math.MaxInt; want one, after step 2", checks)
	}
}

// TestBalanceNeedsStepsOnTheNewSplit: a run too short to train a step on
// the split it measures is refused, not run on the FLOPs split in silence.
func TestBalanceNeedsStepsOnTheNewSplit(t *testing.T) {
	cfg := rebalanceConfig(t, corpus(t), filepath.Join(t.TempDir(), "run"))
	cfg.Balance, cfg.Rebalance.Warmup, cfg.Steps = "measured", 2, 3
	if err := cfg.validateBalance(); err == nil || !strings.Contains(err.Error(), "steps 3 is too few; give steps 4 or more") {
		t.Errorf("3 steps with a warm-up of 2: %v", err)
	}
	cfg.Steps = 4
	if err := cfg.validateBalance(); err != nil {
		t.Errorf("4 steps with a warm-up of 2: %v", err)
	}
}

// TestResumedBalanceOnOneDeviceSaysWhereItComesFrom: on a resume the
// balancing setting is run.json's, not a flag the user gave, so the error
// says so and how to continue on one device.
func TestResumedBalanceOnOneDeviceSaysWhereItComesFrom(t *testing.T) {
	cfg := rebalanceConfig(t, corpus(t), filepath.Join(t.TempDir(), "run"))
	cfg.Devices, cfg.Resume = cfg.Devices[:1], true
	for balance, want := range map[string]string{
		"measured": "balance measured, which this run's run.json holds, needs two stages or more to balance; give more devices, or balance flops to continue on one",
		"flops":    "rebalance auto, which this run's run.json holds, needs two stages or more to balance; give more devices, or rebalance off to continue on one",
	} {
		cfg.Balance, cfg.Rebalance.Mode = balance, map[string]string{"measured": "", "flops": "auto"}[balance]
		if err := cfg.validateBalance(); err == nil || err.Error() != want {
			t.Errorf("%s: %v; want %q", balance, err, want)
		}
	}
}

// TestResumeKeepsTheMovesBeforeIt: a resumed run's summary lists the moves
// made before its checkpoint, as its losses span the resume, though the run
// was killed before its summary.
func TestResumeKeepsTheMovesBeforeIt(t *testing.T) {
	cfg := rebalanceConfig(t, corpus(t), filepath.Join(t.TempDir(), "run"))
	cfg.Rebalance = Rebalance{Mode: "auto", Warmup: 2, Every: 100, MinGain: 0.01}
	first := train(t, cfg, 0)
	if len(first.Rebalances) != 1 {
		t.Fatalf("the run moved %d times, want once", len(first.Rebalances))
	}
	// Killed before its summary, the run keeps them in its checkpoint.
	if err := os.Remove(filepath.Join(cfg.Out, "summary.json")); err != nil {
		t.Fatal(err)
	}
	cfg.Resume, cfg.Steps = true, cfg.Steps+2
	resumed := train(t, cfg, 0)
	if len(resumed.Rebalances) != 1 || resumed.Rebalances[0].Step != first.Rebalances[0].Step || !slices.Equal(resumed.Rebalances[0].To, first.Rebalances[0].To) {
		t.Fatalf("the resumed run's moves %+v; want the first run's %+v", resumed.Rebalances, first.Rebalances)
	}
}

// TestNoMoveInTheStepASignalStops: Ctrl-C during the step where a move was
// due stops the run after it without the move, which no step would run on:
// the start's report has its measured steps, and no move waits for a gain
// it will never measure.
func TestNoMoveInTheStepASignalStops(t *testing.T) {
	data, dir := corpus(t), t.TempDir()
	cfg := rebalanceConfig(t, data, filepath.Join(dir, "whole"))
	cfg.Rebalance = Rebalance{Mode: "auto", Warmup: 2, Every: 100, MinGain: 0.01}
	whole := train(t, cfg, 0)
	if len(whole.Rebalances) != 1 {
		t.Fatalf("the uninterrupted run moved %d times, want once: %+v", len(whole.Rebalances), whole.Rebalances)
	}
	at := whole.Rebalances[0].Step
	cfg.Out = filepath.Join(dir, "stopped")
	tr, err := NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := &signalAfter{Context: context.Background()}
	sum, err := tr.Run(ctx, func(p Progress) { ctx.armed.Store(p.Step == at-1 || ctx.armed.Load()) })
	tr.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Interrupted || sum.Steps != at || len(sum.Rebalances) != 0 || sum.StepsMeasured == 0 {
		t.Errorf("interrupted %v at step %d (the move was due at %d), moves %+v, %d steps measured; want no move and the steps measured",
			sum.Interrupted, sum.Steps, at, sum.Rebalances, sum.StepsMeasured)
	}
}

// TestResumeMeasuresTheOpenMove: a --balance measured run stopped after
// its move but before the move's gain was measured measures it after the
// resume, on the new split, and does not check the split again; resumed
// on other devices it starts from their FLOPs split, saying so, and
// balances anew.
func TestResumeMeasuresTheOpenMove(t *testing.T) {
	cfg := rebalanceConfig(t, corpus(t), filepath.Join(t.TempDir(), "run"))
	cfg.Balance, cfg.Rebalance.Warmup, cfg.Steps = "measured", 2, 12
	first := train(t, cfg, 4) // moved after step 3; its gain is measured after steps 5 and 6
	if len(first.Rebalances) != 1 || first.Rebalances[0].MeasuredGain != 0 || first.Rebalances[0].BeforeS <= 0 {
		t.Fatalf("the stopped run's moves %+v; want one, its gain not yet measured, the step time it was priced on kept", first.Rebalances)
	}
	cfg.Resume = true
	tr, err := NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var notices []string
	sum, err := tr.Run(context.Background(), func(p Progress) {
		if p.Notice != "" {
			notices = append(notices, p.Notice)
		}
	})
	tr.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Rebalances) != 1 || sum.Rebalances[0].MeasuredGain == 0 || len(notices) != 1 || !strings.Contains(notices[0], "rebalance at step 3: measured") {
		t.Errorf("after the resume: moves %+v, notices %q; want the one move, its gain measured, and no other check", sum.Rebalances, notices)
	}

	cfg.Devices, cfg.Steps = cfg.Devices[:3], 20
	tr, err = NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if w := strings.Join(tr.Warnings(), "\n"); !strings.Contains(w, "the run's balanced split "+model.JoinInts(first.Rebalances[0].To)+" is for its devices cpu:0,cpu:1~4,cpu:2,cpu:3; on cpu:0,cpu:1~4,cpu:2 it starts from the FLOPs split") {
		t.Errorf("resumed on 3 devices, the warnings are %q; want one saying the balanced split is dropped", w)
	}
	sum, err = tr.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Rebalances) != 2 {
		t.Errorf("resumed on 3 devices, the run's moves are %+v; want a second, balancing them", sum.Rebalances)
	}
}

// TestMeasuredBalanceChecksOnceAcrossResumes: --balance measured checks
// once however often the run is stopped before its check (here twice, the
// check falling after the second resume's first steps), and again on
// other devices of the same count, whose split it cannot keep.
func TestMeasuredBalanceChecksOnceAcrossResumes(t *testing.T) {
	cfg := rebalanceConfig(t, corpus(t), filepath.Join(t.TempDir(), "run"))
	cfg.Balance, cfg.Rebalance.Warmup, cfg.Steps = "measured", 2, 12
	if sum := train(t, cfg, 2); len(sum.Rebalances) != 0 {
		t.Fatalf("moved before its check: %+v", sum.Rebalances)
	}
	cfg.Resume = true
	if sum := train(t, cfg, 4); len(sum.Rebalances) != 0 {
		t.Fatalf("moved before its check, which comes after step 5: %+v", sum.Rebalances)
	}
	sum := train(t, cfg, 8)
	if len(sum.Rebalances) != 1 || sum.Rebalances[0].Step != 7 {
		t.Fatalf("after two stops, the run moved %+v; want once, after step 7 (the resume's first step, then 2 measured)", sum.Rebalances)
	}
	sum = train(t, cfg, 0)
	if len(sum.Rebalances) != 1 {
		t.Errorf("resumed on its split after the check, the run moved %+v; want no second check", sum.Rebalances)
	}

	// As many devices, others: the third slowed, not the second.
	cfg.Devices[1].Slow, cfg.Devices[2].Slow, cfg.Steps = 0, 4, 20
	sum = train(t, cfg, 0)
	if len(sum.Rebalances) != 2 {
		t.Errorf("resumed on other devices of the same count, the run moved %+v; want a second check, and a move off the FLOPs split", sum.Rebalances)
	}
}

// TestRebalanceCheckThatStaysSaysSo: a check whose balanced split gains
// less than needed keeps the split and says so, naming both splits.
func TestRebalanceCheckThatStaysSaysSo(t *testing.T) {
	cfg := rebalanceConfig(t, corpus(t), filepath.Join(t.TempDir(), "run"))
	cfg.Rebalance, cfg.Steps = Rebalance{Mode: "auto", Warmup: 2, Every: 100, MinGain: 0.99}, 4
	var notices []string
	sum := trainWatching(t, cfg, 0, func(p Progress) {
		if p.Notice != "" {
			notices = append(notices, p.Notice)
		}
	})
	want := regexp.MustCompile(`^rebalance at step 3: split \d+(,\d+){3} stays: the balanced split \d+(,\d+){3} would gain -?\d+\.\d%, and 99% is needed$`)
	if len(sum.Rebalances) != 0 || len(notices) != 1 || !want.MatchString(notices[0]) {
		t.Errorf("moves %+v, notices %q; want none, and one notice matching %s", sum.Rebalances, notices, want)
	}
}
