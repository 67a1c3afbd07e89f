//go:build unix

// Files that fail or never answer: stdout on a full disk, a --cpuprofile that cannot be written, and named pipes in place of the files baton reads.

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hangLimit is how long a command that should fail at once may take before
// the test says it hangs.
const hangLimit = 30 * time.Second

// batonWithin runs baton in dir with args and stdout (nil: a buffer),
// failing the test if it runs longer than hangLimit.
func batonWithin(t *testing.T, dir string, stdout *os.File, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, batonBin, args...)
	cmd.Dir = dir
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if stdout != nil {
		cmd.Stdout = stdout
	}
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("baton %s: still running after %v (it hangs); stderr:\n%s", strings.Join(args, " "), hangLimit, stderr.String())
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("baton %s: %v", strings.Join(args, " "), err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: stderr.String()}
}

// fullDevice opens for writing a device node of the test's own like
// /dev/full (1, 7), where every write fails with ENOSPC, as on a full disk.
func fullDevice(t *testing.T) (path string, f *os.File) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "full")
	if err := syscall.Mknod(path, syscall.S_IFCHR|0o666, 1<<8|7); err != nil {
		t.Skip("cannot make a device node here:", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Skip("cannot open the device node made here:", err)
	}
	t.Cleanup(func() { f.Close() })
	return path, f
}

// TestStdoutFullFails: every command whose output cannot be written (stdout
// a full disk) says so and exits 1, whether it printed its output unchecked
// or returned the write's error.
func TestStdoutFullFails(t *testing.T) {
	t.Parallel()
	_, full := fullDevice(t)
	run := trainedRun(t)
	for _, args := range [][]string{
		{"schedule"},
		{"schedule", "--all"},
		{"schedule", "--json"},
		{"plan"},
		{"plan", "--devices-max", "4"},
		{"plan", "--json"},
		{"plan", "--replay", run},
		{"devices"},
		{"version"},
		{"--version"},
		{"help"},
		{"sample", "--from", run, "--tokens", "4"},
		tinyTrain("run", 1),
		{"tokenize", "--out", "shards", "--val-fraction", "0.1", corpus},
		{"bench", "--quick", "--steps=1", "--devices-max=1", "--schedules=naive", "--data", corpus, "--out", "results"},
	} {
		t.Run(strings.Join(args[:1], " "), func(t *testing.T) {
			r := batonWithin(t, t.TempDir(), full, args...)
			const want = "baton: write stdout: no space left on device\n"
			if r.code != 1 || !strings.HasSuffix(r.stderr, want) {
				t.Fatalf("baton %s with stdout full: exit status %d, stderr:\n%s\nwant 1, ending %q", strings.Join(args, " "), r.code, r.stderr, want)
			}
		})
	}
}

// TestCPUProfileFullFails: a --cpuprofile that cannot be written fails the
// run, naming the flag, after the training it profiled.
func TestCPUProfileFullFails(t *testing.T) {
	t.Parallel()
	full, _ := fullDevice(t)
	dir := t.TempDir()
	r := batonWithin(t, dir, nil, tinyTrain("run", 1, "--quiet", "--cpuprofile", full)...)
	if want := "baton: --cpuprofile: write " + full + ": "; r.code != 1 || !strings.Contains(r.stderr, want) || !strings.HasSuffix(r.stderr, "no space left on device\n") {
		t.Fatalf("exit status %d, stderr:\n%s\nwant 1 and a line starting %q, ending no space left on device", r.code, r.stderr, want)
	}
	if ck, _ := loadStep(t, filepath.Join(dir, "run", "checkpoint")); ck != 1 {
		t.Fatalf("the run's checkpoint is at step %d, want 1", ck)
	}
}

// TestCPUProfileReplacedWhole: a profile at --cpuprofile stays as it was
// while a run profiles (and after a run killed meanwhile); a run that ends
// replaces it with its own, whole.
func TestCPUProfileReplacedWhole(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prof := filepath.Join(dir, "cpu.prof")
	if err := os.WriteFile(prof, []byte("earlier profile"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, dir, tinyTrain("run", 100000, "--quiet", "--cpuprofile", prof)...)
	waitLines(t, filepath.Join(dir, "run", "metrics.jsonl"), 1)
	held, _ := os.ReadFile(prof)
	c.signal(t, os.Kill)
	c.wait(t)
	if string(held) != "earlier profile" {
		t.Fatalf("while the run profiled, %s held %q, want the earlier profile", prof, held)
	}
	if got, _ := os.ReadFile(prof); string(got) != "earlier profile" {
		t.Fatalf("after the run was killed, %s holds %q, want the earlier profile", prof, got)
	}
	mustRun(t, dir, tinyTrain("run2", 1, "--quiet", "--cpuprofile", prof)...)
	if got, _ := os.ReadFile(prof); !bytes.HasPrefix(got, []byte{0x1f, 0x8b}) {
		t.Fatalf("after a whole run, %s holds %q, want a profile (gzip)", prof, got)
	}
}

// TestReadFilesMustBeRegular puts a named pipe in place of each file baton
// reads: the command must refuse it at once, naming it, where opening it
// would wait for a writer that never comes (past SIGTERM).
func TestReadFilesMustBeRegular(t *testing.T) {
	t.Parallel()
	pipe := func(t *testing.T, path string) {
		t.Helper()
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(path, 0o644); err != nil {
			t.Skip("no named pipes here:", err)
		}
	}
	const fifo = " is a named pipe (FIFO), not a regular file"
	for _, c := range []struct {
		name, file string // file: the one made a pipe, in the run or the test's directory
		inRun      bool
		args       []string
		code       int
		want       string
	}{
		{"resume metrics.jsonl", "metrics.jsonl", true, tinyTrain("run", 3, "--resume"), 1,
			"baton: --out: run/metrics.jsonl" + fifo + "; remove it, and the run writes it anew"},
		{"resume summary.json", "summary.json", true, tinyTrain("run", 3, "--resume"), 1,
			"baton: --out: run/summary.json" + fifo + "; remove it, and the run writes it anew"},
		{"resume run.json", "run.json", true, tinyTrain("run", 3, "--resume"), 2,
			"baton: --resume: run/run.json" + fifo},
		{"overwrite metrics.jsonl", "metrics.jsonl", true, tinyTrain("run", 3, "--overwrite"), 1,
			"baton: --out: run/metrics.jsonl" + fifo + "; remove it, and the run writes it anew"},
		{"replay summary.json", "summary.json", true, []string{"plan", "--replay", "run"}, 2,
			"baton: --replay: run/summary.json" + fifo + " (give a run directory written by baton train)"},
		{"config", "c.toml", false, tinyTrain("new", 3, "--config", "c.toml"), 2,
			"baton: --config: c.toml" + fifo},
		{"train schedule-file", "s.csv", false, tinyTrain("new", 3, "--schedule-file", "s.csv"), 2,
			"baton: --schedule-file: s.csv" + fifo},
		{"plan schedule-file", "s.csv", false, []string{"plan", "--model", "tiny", "--devices", "cpu:0,cpu:1", "--schedule-file", "s.csv"}, 2,
			"baton: --schedule-file: s.csv" + fifo},
		{"bench peer", "peer.csv", false, []string{"bench", "--quick", "--devices-max", "1", "--schedules", "naive", "--peer", "peer.csv"}, 1,
			"baton: --peer: peer.csv" + fifo},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, c.file)
			if c.inRun {
				copyTree(t, trainedRun(t), filepath.Join(dir, "run"))
				path = filepath.Join(dir, "run", c.file)
			}
			pipe(t, path)
			r := batonWithin(t, dir, nil, c.args...)
			if r.code != c.code || r.stderr != c.want+"\n" {
				t.Fatalf("baton %s: exit status %d, stderr:\n%s\nwant %d and %q", strings.Join(c.args, " "), r.code, r.stderr, c.code, c.want)
			}
			if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
				t.Fatalf("%s is no longer the pipe: %v, %v", path, fi.Mode(), err)
			}
		})
	}
}
