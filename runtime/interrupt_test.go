// A signal during the last step stops the final evaluation, not the run's record: the checkpoint, the last metrics line and the summary are written, and the summary says the run was interrupted.
package runtime

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"baton/model"
)

func TestSignalInTheLastStepSkipsTheFinalEvaluation(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	cfg := resumeConfig(t, corpus(t), out, "cpu:0,cpu:1", 3)
	cfg.EvalBatches = 1000
	sum := train(t, cfg, 3)
	if !sum.Interrupted || sum.ValLoss != nil || sum.Steps != 3 {
		t.Fatalf("interrupted %v, validation loss %v, %d steps; want an interrupted run of 3 steps with no validation loss", sum.Interrupted, sum.ValLoss, sum.Steps)
	}
	ck, err := model.Load(CheckpointDir(out))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := resumeState(ck, out); err != nil || st.Step != 3 {
		t.Errorf("the checkpoint holds step %d (%v), want 3", st.Step, err)
	}
	lines, err := readMetrics(filepath.Join(out, MetricsFile), 3)
	if err != nil || len(lines) != 3 || lines[2].Step != 3 || lines[2].ValLoss != nil {
		t.Fatalf("metrics.jsonl: %+v, %v; want 3 lines, the last for step 3 with no validation loss", lines, err)
	}
}

// TestCheckpointKeepsTheLosses: a run killed before it wrote its summary,
// logging every third step, resumes with every step's loss: the checkpoint
// holds them (metrics.jsonl has every third, and the summary is gone).
func TestCheckpointKeepsTheLosses(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	cfg := resumeConfig(t, corpus(t), out, "cpu:0,cpu:1", 10)
	cfg.LogEvery, cfg.SaveEvery = 3, 5
	whole := train(t, cfg, 0)
	if err := os.Remove(filepath.Join(out, "summary.json")); err != nil {
		t.Fatal(err)
	}
	cfg.Resume, cfg.Steps = true, 12
	resumed := train(t, cfg, 0)
	if resumed.LossesFirstStep != 1 || len(resumed.Losses) != 12 || !slices.Equal(resumed.Losses[:10], whole.Losses) {
		t.Fatalf("the resumed run's losses are %d from step %d; want 12 from step 1, the first 10 the killed run's", len(resumed.Losses), resumed.LossesFirstStep)
	}
}

// TestRunDirectoryGoneStopsTheRun: a run directory removed or moved while
// the run goes on fails the next save, naming it, instead of a new
// directory made in its place apart from the run's record and log.
func TestRunDirectoryGoneStopsTheRun(t *testing.T) {
	for _, how := range []string{"removed", "moved"} {
		out := filepath.Join(t.TempDir(), "run")
		cfg := resumeConfig(t, corpus(t), out, "cpu:0,cpu:1", 6)
		cfg.SaveEvery = 3
		tr, err := NewTrainer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tr.Run(context.Background(), func(p Progress) {
			if p.Step == 2 && how == "removed" {
				os.RemoveAll(out)
			} else if p.Step == 2 {
				os.Rename(out, out+"-moved")
			}
		})
		tr.Close()
		if err == nil || !strings.Contains(err.Error(), "was removed or moved while the run ran") {
			t.Errorf("run directory %s at step 2: %v", how, err)
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("run directory %s: the run made a new one", how)
		}
	}
}

// TestResumeWritesTheSummaryAnEndLost: a run killed after its last
// checkpoint but before its summary resumes at its last step to write the
// summary (every loss, from the checkpoint), training nothing; with the
// summary there, such a resume is refused as before.
func TestResumeWritesTheSummaryAnEndLost(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	cfg := resumeConfig(t, corpus(t), out, "cpu:0,cpu:1", 4)
	whole := train(t, cfg, 0)
	if err := os.Remove(filepath.Join(out, "summary.json")); err != nil {
		t.Fatal(err)
	}
	cfg.Resume = true
	tr, err := NewTrainer(cfg)
	if err != nil {
		t.Fatalf("resuming at the last step with no summary: %v", err)
	}
	sum, err := tr.Run(context.Background(), nil)
	tr.Close()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Steps != 4 || !slices.Equal(sum.Losses, whole.Losses) || sum.ValLoss == nil || *sum.ValLoss != *whole.ValLoss || sum.Checkpoint == "" ||
		sum.FirstLoss == nil || sum.LastLoss == nil || *sum.FirstLoss != *whole.FirstLoss || *sum.LastLoss != *whole.LastLoss {
		t.Errorf("steps %d, losses %v, val %v, checkpoint %q; want the whole run's 4 steps, losses and validation loss %v", sum.Steps, sum.Losses, sum.ValLoss, sum.Checkpoint, *whole.ValLoss)
	}
	if prev := previousSummary(out); prev == nil || prev.Steps != 4 {
		t.Fatalf("summary.json after the resume: %+v", prev)
	}
	if _, err := NewTrainer(cfg); err == nil || !strings.Contains(err.Error(), "already at steps 4") {
		t.Errorf("resuming a complete run: %v; want it refused", err)
	}
}

// TestEarlierRanksSummariesGo: an earlier start's ranks/N/summary.json (of
// more ranks, or of the run overwritten) does not outlive the start.
func TestEarlierRanksSummariesGo(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	stale := filepath.Join(out, "ranks", "2", "summary.json")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte(`{"steps": 30}`), 0o644); err != nil {
		t.Fatal(err)
	}
	train(t, resumeConfig(t, corpus(t), out, "cpu:0,cpu:1", 2), 0)
	if _, err := os.Stat(stale); err == nil {
		t.Errorf("%s is still there after a new start", stale)
	}
	if _, err := os.Stat(filepath.Dir(stale)); err != nil {
		t.Errorf("the rank's directory went too: %v", err)
	}
}

// TestStopJustAfterASaveSavesOnce: a run stopped in the step that its
// --save-every just saved ends with that checkpoint, not a second write of
// it (for a large model, a long wait before the stop).
func TestStopJustAfterASaveSavesOnce(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	cfg := resumeConfig(t, corpus(t), out, "cpu:0,cpu:1", 4)
	cfg.SaveEvery = 2
	var saved os.FileInfo
	sum := trainWatching(t, cfg, 2, func(p Progress) {
		if p.Step == 2 {
			saved, _ = os.Stat(CheckpointDir(out))
		}
	})
	if saved == nil {
		t.Fatal("no checkpoint after step 2")
	}
	now, err := os.Stat(CheckpointDir(out))
	if err != nil || !os.SameFile(saved, now) || !sum.Interrupted || sum.Steps != 2 {
		t.Errorf("stopped after step %d (interrupted %v), the checkpoint step 2 saved was written again (%v)", sum.Steps, sum.Interrupted, err)
	}
}

// TestStopJustAfterAnEvaluationKeepsItsLoss: a run stopped in the step it
// has just evaluated ends with that validation loss in its summary, the
// one its metrics line holds, not "not measured".
func TestStopJustAfterAnEvaluationKeepsItsLoss(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	cfg := resumeConfig(t, corpus(t), out, "cpu:0,cpu:1", 4)
	cfg.EvalEvery = 2
	sum := train(t, cfg, 2)
	lines, err := readMetrics(filepath.Join(out, MetricsFile), 2)
	if err != nil || len(lines) != 2 || lines[1].ValLoss == nil {
		t.Fatalf("metrics.jsonl: %+v, %v; want step 2's line with its validation loss", lines, err)
	}
	if !sum.Interrupted || sum.Steps != 2 || sum.ValLoss == nil || *sum.ValLoss != *lines[1].ValLoss {
		t.Errorf("stopped after step %d (interrupted %v), the summary's validation loss is %v; want step 2's, %v", sum.Steps, sum.Interrupted, sum.ValLoss, *lines[1].ValLoss)
	}
}

// TestReportLostSaysTheTrainingIsKept: a run whose report cannot be
// written after its last checkpoint (here trace.json is a directory; a
// full disk does the same) fails saying where that checkpoint is and that
// a resume writes what is missing, which it does.
func TestReportLostSaysTheTrainingIsKept(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	cfg := resumeConfig(t, corpus(t), out, "cpu:0,cpu:1", 2)
	tr, err := NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	blocked := filepath.Join(out, "trace.json", "x")
	_, err = tr.Run(context.Background(), func(p Progress) {
		if p.Step == 2 {
			if err := os.MkdirAll(blocked, 0o755); err != nil {
				t.Error(err)
			}
		}
	})
	want := "the training is kept: the checkpoint of step 2 is in " + CheckpointDir(out) + ", and resume with the same steps writes the report and summary"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Run with trace.json a directory: %v; want an error saying %q", err, want)
	}
	if err := os.RemoveAll(filepath.Dir(blocked)); err != nil {
		t.Fatal(err)
	}
	cfg.Resume = true
	if sum := train(t, cfg, 0); sum.Steps != 2 {
		t.Errorf("the resume wrote a summary of %d steps, want 2", sum.Steps)
	}
	if _, err := os.Stat(filepath.Join(out, "summary.json")); err != nil {
		t.Errorf("after the resume: %v", err)
	}
}
