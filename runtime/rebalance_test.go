// Live rebalancing: a run that re-splits itself trains exactly as one that used the final split throughout, and a failed move changes nothing.

package runtime

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
	if slices.Equal(mv.From, mv.To) || mv.To[1] >= mv.From[1] || mv.PredictedGain <= 0 {
		t.Fatalf("move %v → %v predicted %.2f: want blocks off the slowed cpu:1 and a gain", mv.From, mv.To, mv.PredictedGain)
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
	got, err1 := model.Load(CheckpointDir(filepath.Join(dir, "live")))
	ref, err2 := model.Load(CheckpointDir(filepath.Join(dir, "fixed")))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	for name, w := range ref.Params {
		for j := range w {
			if got.Params[name][j] != w[j] || got.M[name][j] != ref.M[name][j] || got.V[name][j] != ref.V[name][j] {
				t.Fatalf("%s[%d]: parameter or moment differs from the final split's run", name, j)
			}
		}
	}
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
}
