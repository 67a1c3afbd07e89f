//go:build unix

// Ranks signalled while they evaluate after their last step: the run is whole, and each rank's status still says it was interrupted, as one process's does.
package main

import (
	"baton/runtime/dist"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRanksInterruptedAfterTheLastStep(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Slowed devices: the last step and the evaluation after it are long
	// enough to be in when the signal comes, once the first step is logged.
	ranks := startRanks(t, dir, 2, "--steps", "2", "--eval-every", "0", "--out", "run", "--devices", "cpu:0~50", "--quiet")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, _ := os.ReadFile(filepath.Join(dir, "run", "metrics.jsonl")); strings.Count(string(b), "\n") >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no step logged within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, r := range ranks {
		r.signal(t, syscall.SIGINT)
	}
	for i, r := range ranks {
		if code, _ := r.wait(t); code != 130 || !strings.Contains(r.errText(), "interrupted by SIGINT") {
			t.Errorf("rank %d: exit %d, want 130 saying it was interrupted:\n%s", i, code, r.errText())
		}
	}
}

func TestRankPathGivesEachRankItsOwn(t *testing.T) {
	for _, c := range []struct {
		path        string
		rank, world int
		want        string
	}{
		{"prof.out", 0, 1, "prof.out"},
		{"prof.out", 1, 2, "prof.rank1.out"},
		{"dir.d/cpu", 0, 3, "dir.d/cpu.rank0"},
	} {
		if got := rankPath(c.path, dist.Env{Rank: c.rank, WorldSize: c.world}); got != c.want {
			t.Errorf("rankPath(%q, rank %d of %d) = %q, want %q", c.path, c.rank, c.world, got, c.want)
		}
	}
}

// TestSignalWhileStartingSaysNothingWasTrained: a signal before the run's
// first step (here while rank 1 waits for a rank 0 that never comes) ends
// it with a line saying nothing was trained, not silently, and leaves no
// directory it made (run/ranks/1 and its lock file).
func TestSignalWhileStartingSaysNothingWasTrained(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	before := snapshot(t, dir)
	c := startChildEnv(t, dir, rankEnv(1, 2, freeTCPPort(t)), tinyTrain("run", 3, "--devices", "cpu:0")...)
	time.Sleep(500 * time.Millisecond) // past the handler's start; rank 1 waits for rank 0 up to --timeout
	c.signal(t, syscall.SIGINT)
	code, killed := c.wait(t)
	if stderr := c.errText(); killed || code != 130 || !strings.Contains(stderr, "baton: interrupted by SIGINT while starting: nothing was trained or saved") {
		t.Errorf("exit %d (killed: %v); want 130 and a line saying nothing was trained:\n%s", code, killed, stderr)
	}
	if left := changes(before, snapshot(t, dir)); len(left) > 0 {
		t.Errorf("the interrupted start left %v", left)
	}
}
