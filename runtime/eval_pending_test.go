// An evaluation a signal stopped is not lost: the checkpoint says it is pending, and the resume evaluates it first, into that step's metrics line and the summary.

package runtime

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"baton/model"
)

// signalAfter is a context that a signal cancels between a step's training
// and its evaluation: once armed, the next Err (the loop's check before the
// step) is nil and every later one Canceled, as when Ctrl-C comes during
// the step.
type signalAfter struct {
	context.Context
	armed, spared atomic.Bool
}

func (c *signalAfter) Err() error {
	if !c.armed.Load() || c.spared.CompareAndSwap(false, true) {
		return nil
	}
	return context.Canceled
}

// evalLines is what of metrics.jsonl's lines a resume must make as the
// uninterrupted run had them: steps, losses, validation losses.
func evalLines(t *testing.T, out string, steps int) []string {
	t.Helper()
	lines, err := readMetrics(filepath.Join(out, MetricsFile), steps)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range lines {
		val := "none"
		if m.ValLoss != nil {
			val = fmt.Sprint(*m.ValLoss)
		}
		got = append(got, fmt.Sprintf("step %d loss %v val %s", m.Step, m.Loss, val))
	}
	return got
}

func pendingIn(t *testing.T, out string) TrainState {
	t.Helper()
	ck, err := model.Load(CheckpointDir(out))
	if err != nil {
		t.Fatal(err)
	}
	st, err := resumeState(ck, out)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSignalDuringAnEvaluatingStep: Ctrl-C during step 2, which evaluates,
// stops its evaluation; step 2's line is still written (with --log-every 3
// it would have been left out), the checkpoint says the evaluation is
// pending, and the resume evaluates it first: metrics.jsonl is then the
// uninterrupted run's, validation losses included.
func TestSignalDuringAnEvaluatingStep(t *testing.T) {
	dir := t.TempDir()
	cfg := resumeConfig(t, corpus(t), filepath.Join(dir, "whole"), "cpu:0,cpu:1", 4)
	cfg.EvalEvery, cfg.SaveEvery, cfg.LogEvery = 2, 2, 3
	train(t, cfg, 0)
	want := evalLines(t, cfg.Out, 4)

	cfg.Out = filepath.Join(dir, "run")
	tr, err := NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := &signalAfter{Context: context.Background()}
	sum, err := tr.Run(ctx, func(p Progress) { ctx.armed.Store(p.Step == 1 || ctx.armed.Load()) })
	tr.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Interrupted || sum.Steps != 2 {
		t.Fatalf("interrupted %v after %d steps; want interrupted after 2", sum.Interrupted, sum.Steps)
	}
	if st := pendingIn(t, cfg.Out); st.Step != 2 || !st.EvalPending {
		t.Fatalf("the checkpoint is at step %d, evaluation pending %v; want step 2, pending", st.Step, st.EvalPending)
	}
	if got := evalLines(t, cfg.Out, 4); len(got) != 1 || !strings.HasPrefix(got[0], "step 2 ") || !strings.HasSuffix(got[0], "val none") {
		t.Fatalf("metrics.jsonl before the resume: %q; want step 2's line, without its validation loss", got)
	}
	cfg.Resume = true
	train(t, cfg, 0)
	if got := evalLines(t, cfg.Out, 4); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("metrics.jsonl after the resume:\n%s\nwant the uninterrupted run's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if st := pendingIn(t, cfg.Out); st.EvalPending {
		t.Errorf("the checkpoint at step %d still says its evaluation is pending", st.Step)
	}
}

// TestResumeEvaluatesTheStoppedEnd: a run whose final evaluation a signal
// stopped says "continue with --resume", and the resume does: it trains no
// step, evaluates, and writes the last metrics line and the summary as the
// uninterrupted run's, keeping the report of the steps the run measured;
// then the run is complete, and a resume is refused.
func TestResumeEvaluatesTheStoppedEnd(t *testing.T) {
	dir := t.TempDir()
	cfg := resumeConfig(t, corpus(t), filepath.Join(dir, "whole"), "cpu:0,cpu:1", 3)
	whole := train(t, cfg, 0)
	want := evalLines(t, cfg.Out, 3)

	cfg.Out = filepath.Join(dir, "run")
	stopped := train(t, cfg, 3) // the signal comes in the last step: the final evaluation stops
	if !stopped.Interrupted || stopped.ValLoss != nil || !pendingIn(t, cfg.Out).EvalPending {
		t.Fatalf("interrupted %v, validation loss %v, pending %v; want an interrupted run, its evaluation pending", stopped.Interrupted, stopped.ValLoss, pendingIn(t, cfg.Out).EvalPending)
	}
	cfg.Resume = true
	tr, err := NewTrainer(cfg)
	if err != nil {
		t.Fatalf("resuming a run whose final evaluation a signal stopped: %v", err)
	}
	sum, err := tr.Run(context.Background(), nil)
	tr.Close()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Interrupted || sum.ValLoss == nil || *sum.ValLoss != *whole.ValLoss || sum.Steps != 3 || sum.BubbleMeasured != stopped.BubbleMeasured {
		t.Errorf("interrupted %v, validation loss %v, %d steps, bubble %v; want %v after 3 steps, the stopped start's bubble %v",
			sum.Interrupted, sum.ValLoss, sum.Steps, sum.BubbleMeasured, *whole.ValLoss, stopped.BubbleMeasured)
	}
	if got := evalLines(t, cfg.Out, 3); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("metrics.jsonl after the resume:\n%s\nwant the uninterrupted run's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if prev := previousSummary(cfg.Out); prev == nil || prev.Interrupted || prev.ValLoss == nil {
		t.Errorf("summary.json after the resume: %+v", prev)
	}
	if _, err := NewTrainer(cfg); err == nil || !strings.Contains(err.Error(), "already at steps 3") {
		t.Errorf("resuming the completed run: %v; want it refused", err)
	}
}
