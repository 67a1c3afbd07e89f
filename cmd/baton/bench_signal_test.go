//go:build unix

// baton bench stops on SIGTERM and SIGHUP as on Ctrl-C: after the current step, exiting 128+signal, writing no report and leaving no --out it made.
package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

func TestBenchStopsOnSIGTERM(t *testing.T) { testBenchStop(t, syscall.SIGTERM, 143) }
func TestBenchStopsOnSIGHUP(t *testing.T)  { testBenchStop(t, syscall.SIGHUP, 129) }

func testBenchStop(t *testing.T, sig syscall.Signal, want int) {
	t.Parallel()
	dir := t.TempDir()
	// 27 points of 20 measured steps: the signal lands inside a point, with
	// many to go.
	cmd := exec.Command(batonBin, "bench", "--quick", "--steps", "20", "--data", corpus, "--out", "results")
	cmd.Dir = dir
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = w, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	defer r.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// The first point's line: the sweep is under way.
	waitPipeLine(t, r, regexp.MustCompile(`^\[1/\d+\]`))
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() || ws.ExitStatus() != want {
		t.Fatalf("bench after %v: %v, want exit status %d; stderr:\n%s", sig, cmd.ProcessState, want, stderr.String())
	}
	if !regexp.MustCompile(`baton: interrupted by ` + regexp.QuoteMeta(sigName(sig)) + ` after \d+ of \d+ points; no report written`).MatchString(stderr.String()) {
		t.Errorf("stderr does not say the sweep was interrupted:\n%s", stderr.String())
	}
	if strings.Contains(stderr.String(), "panic") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "results")); !os.IsNotExist(err) {
		t.Errorf("an interrupted sweep left the --out directory it made (stat: %v)", err)
	}
}
