//go:build unix

// A hangup that took the terminal's pipe with it: SIGHUP still saves the checkpoint and exits 129, although nothing can be printed any more.
package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// TestSIGHUPWithItsPipeGone runs baton as `baton train 2>&1 | tee log` in
// an SSH session: the hangup ends tee too, so every later write of baton's
// hits a pipe with no reader, which by default kills a Go program with
// SIGPIPE before it can save.
func TestSIGHUPWithItsPipeGone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(batonBin, tinyTrain("run", 1000, "--save-every", "0", "--eval-every", "0")...)
	cmd.Dir = dir
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitPipeLine(t, r, regexp.MustCompile(`msg=train step=200 `))
	r.Close() // tee is gone
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() || ws.ExitStatus() != 129 {
		t.Fatalf("after SIGHUP with its pipe gone: %v, want exit status 129", cmd.ProcessState)
	}
	step, _ := loadStep(t, filepath.Join(dir, "run", "checkpoint"))
	if s := readSummary(t, dir); !s.Interrupted || s.Steps != step || step < 200 {
		t.Errorf("summary.json: interrupted %v at step %d; the checkpoint is at step %d; want interrupted at the checkpoint's step, 200 or later", s.Interrupted, s.Steps, step)
	}
}

// waitPipeLine reads r until a line matches re; a goroutine reads, so that
// a run that prints nothing more fails the test instead of hanging it.
func waitPipeLine(t *testing.T, r *os.File, re *regexp.Regexp) {
	t.Helper()
	found := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if re.MatchString(sc.Text()) {
				found <- true
				return
			}
		}
		found <- false
	}()
	select {
	case ok := <-found:
		if !ok {
			t.Fatalf("baton's output ended before a line matching %q", re)
		}
	case <-time.After(lineLimit):
		t.Fatalf("no line matching %q within %v", re, lineLimit)
	}
}
