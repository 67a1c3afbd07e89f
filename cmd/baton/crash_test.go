//go:build unix

// Crashes: SIGKILL at random moments of a run that saves after every step must always leave a checkpoint that loads, never an older one.
package main

import (
	"bytes"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestKillDuringCheckpoints(t *testing.T) {
	t.Parallel()
	const (
		kills    = 60
		minDelay = 10 * time.Millisecond
		maxDelay = 300 * time.Millisecond // a run of tens of steps, half its time in saves
	)
	rng := rand.New(rand.NewPCG(2026, 11)) // seeded: the same kill delays every run
	dir := t.TempDir()
	ckDir := filepath.Join(dir, "run", "checkpoint")
	tmp, old := ckDir+".tmp", ckDir+".old"

	prev := 0 // the step loaded after the previous kill; 0 until a checkpoint exists
	var inSave, leftTmp, leftOld, recovered, beforeFirst int
	for k := range kills {
		args := tinyTrain("run", 1_000_000, "--save-every", "1", "--eval-every", "0", "--quiet")
		if exists(ckDir) || exists(old) {
			args = append(args, "--resume")
		}
		tmpBefore, oldBefore := lstat(tmp), lstat(old)
		delay := minDelay + time.Duration(rng.Int64N(int64(maxDelay-minDelay)))

		cmd := exec.Command(batonBin, args...)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		cmd.Process.Kill()
		cmd.Wait()
		if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() {
			t.Fatalf("kill %d: the run ended by itself (exit status %d) before the kill at %v; stderr:\n%s",
				k, cmd.ProcessState.ExitCode(), delay, stderr.String())
		}

		// A .tmp or .old that this run made (not one left by an earlier
		// kill) means the kill landed inside Save.
		newTmp, newOld := made(tmpBefore, lstat(tmp)), made(oldBefore, lstat(old))
		if newTmp || newOld {
			inSave++
		}
		if newTmp {
			leftTmp++
		}
		if newOld {
			leftOld++
		}

		if !exists(ckDir) && !exists(old) {
			if prev > 0 {
				t.Fatalf("kill %d at %v: the checkpoint of step %d is gone, and no %s is left", k, delay, prev, old)
			}
			beforeFirst++
			continue
		}
		step, ck := loadStep(t, ckDir)
		if ck.RecoveredFrom != "" {
			recovered++
		}
		if step < prev {
			t.Fatalf("kill %d at %v: the checkpoint went back from step %d to %d", k, delay, prev, step)
		}
		prev = step
	}
	t.Logf("%d kill points (seeded delays %v to %v after start): %d landed during a save (%d left checkpoint.tmp, %d left checkpoint.old), %d loaded from checkpoint.old, %d came before the first checkpoint; last checkpoint at step %d",
		kills, minDelay, maxDelay, inSave, leftTmp, leftOld, recovered, beforeFirst, prev)
	if prev == 0 {
		t.Fatal("no kill came after a completed checkpoint, so nothing was checked; lengthen the delays")
	}

	// The run resumes from whatever the last kill left and finishes cleanly.
	r := baton(t, dir, tinyTrain("run", prev+3, "--save-every", "1", "--eval-every", "0", "--quiet", "--resume")...)
	if r.code != 0 {
		t.Fatalf("resume after the last kill: exit status %d; stderr:\n%s", r.code, r.stderr)
	}
	if step, _ := loadStep(t, ckDir); step != prev+3 {
		t.Errorf("after resuming to --steps %d the checkpoint is at step %d", prev+3, step)
	}
	if exists(tmp) || exists(old) {
		t.Errorf("a completed save left %s or %s behind", tmp, old)
	}
}

func lstat(p string) fs.FileInfo {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil
	}
	return fi
}

// made reports whether after is a file that before was not: new, or
// replaced (Save removes and recreates .tmp, and renames the checkpoint to .old).
func made(before, after fs.FileInfo) bool {
	if after == nil {
		return false
	}
	return before == nil || !os.SameFile(before, after) || !before.ModTime().Equal(after.ModTime())
}
