//go:build unix

// Damaged checkpoints that the one-shot catalogue cannot show: a fallback to checkpoint.old that succeeds with a warning, named pipes in place of checkpoint files, and a disk that fills during a save.

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// damagedWithOld is the trained run at dir/run with its checkpoint copied
// to checkpoint.old as if saved at step 1, and model.safetensors of the
// step-2 checkpoint cut in half.
func damagedWithOld(t *testing.T, dir string) {
	t.Helper()
	withRun(nil)(t, dir)
	copyTree(t, filepath.Join(dir, "run", "checkpoint"), filepath.Join(dir, "run", "checkpoint.old"))
	writeFile("run/checkpoint.old/state.json", []byte(`{"step":1,"seed":1,"preset":"tiny"}`))(t, dir)
	truncateHalf(ckModel)(t, dir)
}

const fallbackWarning = "level=WARN msg=\"checkpoint run/checkpoint/model.safetensors: not a valid safetensors file"

const fallbackLost = "using the previous checkpoint run/checkpoint.old instead, at step 1: the checkpoint of step 2 is lost"

func TestSampleFallbackWarns(t *testing.T) {
	dir := t.TempDir()
	damagedWithOld(t, dir)
	before := snapshot(t, dir)
	r := baton(t, dir, "sample", "--from=run", "--tokens=8")
	if r.code != 0 || r.stdout == "" {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, fallbackWarning) || !strings.Contains(r.stderr, fallbackLost) {
		t.Errorf("stderr does not warn of the fallback:\n%s", r.stderr)
	}
	if ch := changes(before, snapshot(t, dir)); len(ch) > 0 {
		t.Errorf("sample changed the run directory: %s", strings.Join(ch, ", "))
	}
}

func TestResumeFallbackWarns(t *testing.T) {
	dir := t.TempDir()
	damagedWithOld(t, dir)
	r := baton(t, dir, tinyTrain("run", 3, "--resume", "--quiet")...)
	if r.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, fallbackWarning) || !strings.Contains(r.stderr, fallbackLost) {
		t.Errorf("stderr does not warn of the fallback:\n%s", r.stderr)
	}
	ck := filepath.Join(dir, "run", "checkpoint")
	if step, got := loadStep(t, ck); step != 3 || got.RecoveredFrom != "" {
		t.Errorf("after the run: step %d, recovered from %q; want a whole checkpoint of step 3", step, got.RecoveredFrom)
	}
	if exists(ck+".old") || exists(ck+".tmp") {
		t.Error("the run left checkpoint.old or checkpoint.tmp behind")
	}
}

// TestCheckpointPipesRefused puts a named pipe in place of a checkpoint
// file: baton must say so at once, where reading it would wait forever.
func TestCheckpointPipesRefused(t *testing.T) {
	cases := []struct {
		rel  string
		args []string
		code int
	}{
		{ckConfig, []string{"sample", "--from=run"}, 1},
		{ckModel, []string{"sample", "--from=run"}, 1},
		{ckModel, train("--resume"), 1},
		{ckState, train("--resume"), 1},
		{ckOpt, train("--resume"), 1},
	}
	for _, c := range cases {
		t.Run(c.args[0]+"/"+filepath.Base(c.rel), func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Symlink(corpus, filepath.Join(dir, "corpus.txt")); err != nil {
				t.Fatal(err)
			}
			withRun(remove(c.rel))(t, dir)
			if err := syscall.Mkfifo(filepath.Join(dir, c.rel), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, batonBin, c.args...)
			cmd.Dir = dir
			out, _ := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("baton %s hung on the pipe %s", strings.Join(c.args, " "), c.rel)
			}
			want := c.rel + ": a named pipe (FIFO), not a regular file"
			if code := cmd.ProcessState.ExitCode(); code != c.code || !strings.Contains(string(out), want) {
				t.Errorf("exit %d, want %d saying %q:\n%s", code, c.code, want, out)
			}
		})
	}
}

// TestFullDiskKeepsCheckpoint resumes a run under a file-size limit too
// small for its checkpoint, as a full disk would stop it: the save fails
// naming the file, removes checkpoint.tmp, and the previous checkpoint
// stays as it was.
func TestFullDiskKeepsCheckpoint(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("needs bash to set the file-size limit")
	}
	dir := t.TempDir()
	withRun(nil)(t, dir)
	ck := filepath.Join(dir, "run", "checkpoint")
	before := snapshot(t, ck)
	// 200 KiB (bash counts 1024-byte blocks): model.safetensors fits,
	// optimizer/optimizer.safetensors does not. With SIGXFSZ ignored, the write that
	// crosses the limit fails with EFBIG instead of killing baton.
	script := `ulimit -f 200 && trap '' XFSZ && exec "$0" "$@"`
	cmd := exec.Command(bash, append([]string{"-c", script, batonBin}, tinyTrain("run", 4, "--resume", "--quiet")...)...)
	cmd.Dir = dir
	out, _ := cmd.CombinedOutput()
	want := "baton: checkpoint run/checkpoint: not saved (any previous checkpoint there is unchanged): write run/checkpoint.tmp/optimizer/optimizer.safetensors: file too large"
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), want) {
		t.Fatalf("exit %d, want 1 saying %q:\n%s", code, want, out)
	}
	if exists(ck + ".tmp") {
		t.Error("checkpoint.tmp left behind, keeping the disk full")
	}
	if ch := changes(before, snapshot(t, ck)); len(ch) > 0 {
		t.Errorf("the previous checkpoint changed: %s", strings.Join(ch, ", "))
	}
	if step, _ := loadStep(t, ck); step != 2 {
		t.Errorf("checkpoint at step %d, want the previous one's 2", step)
	}
}
