// --overwrite starts a new run: nothing the old run left is taken for the new one's after a crash.

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestOverwriteForgetsTheOldRun: a run started over with --overwrite (seed 2)
// and killed after a checkpoint resumes as itself: its summary's losses are
// the new run's, step for step as an uninterrupted seed-2 run's, never the
// old run's (seed 1), which had left a summary and a checkpoint there.
func TestOverwriteForgetsTheOldRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustRun(t, dir, tinyTrain("run", 4, "--quiet", "--seed", "1")...)
	mustRun(t, dir, tinyTrain("whole", 6, "--quiet", "--seed", "2")...)

	// Devices slowed 50 times (steps of tens of milliseconds, the same
	// values): the kill lands within a step of the first checkpoint.
	cmd := exec.Command(batonBin, tinyTrain("run", 1_000_000, "--quiet", "--seed", "2", "--overwrite", "--save-every", "2", "--log-every", "3", "--eval-every", "0",
		"--devices", "cpu:0~50,cpu:1~50")...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "run", "checkpoint", "state.json")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		if raw, err := os.ReadFile(state); err == nil && bytes.Contains(raw, []byte(`"seed":2`)) {
			break // the new run's first checkpoint
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the new run saved no checkpoint in a minute; stderr:\n%s", stderr.String())
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	step, _ := loadStep(t, filepath.Join(dir, "run", "checkpoint"))
	if step > 4 {
		t.Fatalf("the run reached step %d before the kill; the test needs it at 4 at most, where the old run's losses lay", step)
	}
	mustRun(t, dir, "train", "--resume", "--out", "run", "--steps", "6", "--devices", "cpu:0,cpu:1", "--quiet")

	var resumed, whole wholeSummary
	readJSON(t, filepath.Join(dir, "run", "summary.json"), &resumed)
	readJSON(t, filepath.Join(dir, "whole", "summary.json"), &whole)
	if len(resumed.Losses) == 0 {
		t.Fatal("the resumed run's summary has no losses")
	}
	for i, l := range resumed.Losses {
		s := resumed.LossesFirstStep + i
		if want := whole.Losses[s-1]; l != want {
			t.Errorf("step %d: the resumed run's summary says loss %v, the seed-2 run's is %v (the old run's losses taken as the new one's?)", s, l, want)
		}
	}
}
