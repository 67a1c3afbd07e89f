//go:build unix

// Two runs, or a run and a sweep, one directory: the second is refused at once, naming the first's pid, and the first finishes unharmed.
package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestSecondRunInOneDirectoryIsRefused(t *testing.T) {
	t.Parallel()
	const steps = 600
	dir := t.TempDir()
	// No saves, evaluation or metrics lines until the end: while the first
	// run trains, nothing in its directory changes but by the second's doing.
	args := tinyTrain("run", steps, "--save-every", "0", "--eval-every", "0", "--log-every", "1000")
	first := startChild(t, dir, args...)
	first.waitLine(t, regexp.MustCompile(`msg=train step=60 `), lineLimit)
	before := snapshot(t, dir)
	want := fmt.Sprintf("baton: --out run is in use by process %d, which holds run/.lock; wait for that run to end or choose another --out\n", first.cmd.Process.Pid)
	for _, extra := range [][]string{nil, {"--resume"}, {"--overwrite"}} {
		t0 := time.Now()
		r := baton(t, dir, append(args, extra...)...)
		took := time.Since(t0)
		t.Logf("baton train --out run %s: refused in %v", strings.Join(extra, " "), took.Round(time.Millisecond))
		if r.code != 1 || r.stderr != want || r.stdout != "" {
			t.Errorf("a second run (%s): exit status %d, stdout %q, stderr\n%s\nwant exit status 1 and\n%s", extra, r.code, r.stdout, r.stderr, want)
		}
	}
	// A benchmark sweep into the run's directory is refused alike.
	if r := baton(t, dir, "bench", "--quick", "--data", corpus, "--out", "run"); r.code != 1 || r.stderr != want || r.stdout != "" {
		t.Errorf("a sweep into the run's directory: exit status %d, stdout %q, stderr\n%s\nwant exit status 1 and\n%s", r.code, r.stdout, r.stderr, want)
	}
	if first.exited {
		t.Fatal("the first run ended before the second ones were refused")
	}
	if ch := changes(before, snapshot(t, dir)); len(ch) > 0 {
		t.Errorf("the refused runs changed the directory: %s", strings.Join(ch, ", "))
	}
	code, killed := first.wait(t)
	if killed || code != 0 {
		t.Fatalf("the first run: exit status %d (killed by a signal: %v), want 0; stderr:\n%s", code, killed, first.errText())
	}
	if step, _ := loadStep(t, filepath.Join(dir, "run", "checkpoint")); step != steps {
		t.Errorf("the first run's checkpoint is at step %d, want %d", step, steps)
	}
	if s := readSummary(t, dir); s.Steps != steps || s.Interrupted {
		t.Errorf("the first run's summary: %d steps, interrupted %v; want %d, false", s.Steps, s.Interrupted, steps)
	}
	if exists(filepath.Join(dir, "run", ".lock")) {
		t.Error("the first run left its lock file behind")
	}
}
