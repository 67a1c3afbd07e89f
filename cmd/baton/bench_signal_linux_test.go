// baton bench stops on a signal after its last point as on one during a point: exit 130 and no report.

package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestBenchStopsOnSIGINTAfterTheLastPoint holds the sweep just after its
// last point: stdout is a pipe of one page, filled but for the first line,
// so that printing the last point's line blocks, and the signal comes then.
func TestBenchStopsOnSIGINTAfterTheLastPoint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// One point, skipped at once (16 stages for 8 layers): after the first
	// line the sweep has nothing to do but print the point's.
	const first = "bench: V=256 T=16 C=32 NH=4 L=8, 1 point, 3 measured steps each\n"
	cmd := exec.Command(batonBin, "bench", "--quick", "--devices-max", "1", "--schedules", "interleaved", "--chunks", "16", "--microbatches", "4", "--out", "results")
	cmd.Dir = dir
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	size, err := unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, 4096)
	if err != nil {
		t.Fatal(err)
	}
	filler := strings.Repeat("-", size-len(first)-1) + "\n"
	if _, err := io.WriteString(w, filler); err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = w, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(lineLimit); ; time.Sleep(10 * time.Millisecond) {
		n, err := unix.IoctlGetInt(int(r.Fd()), unix.TIOCINQ) // FIONREAD: the bytes in the pipe
		if err != nil {
			t.Fatal(err)
		}
		if n == size { // the first line is in: the next one blocks
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bench wrote %d bytes of its first line in %v, want %d", n-len(filler), lineLimit, len(first))
		}
	}
	// Time to reach the blocked write, past the sweep's last look for a
	// signal; were the signal earlier, it would stop the sweep before the
	// point and the test would pass without showing anything.
	time.Sleep(200 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// The sweep may end as soon as its line is read: the signal must be
	// taken first, as its warning shows, or the run would race it.
	for deadline := time.Now().Add(lineLimit); !strings.Contains(stderr.String(), "signal: finishing the current step"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no warning of the signal in %v; stderr:\n%s", lineLimit, stderr.String())
		}
	}
	stdout, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	got := strings.TrimPrefix(string(stdout), filler)
	if !strings.HasPrefix(got, first+"[1/1] interleaved") {
		t.Fatalf("stdout, after the filler, is not the first line and the point's:\n%s", got)
	}
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() || ws.ExitStatus() != 130 {
		t.Fatalf("bench after SIGINT: %v, want exit status 130; stdout after the filler:\n%s\nstderr:\n%s", cmd.ProcessState, got, stderr.String())
	}
	if !regexp.MustCompile(`baton: interrupted by SIGINT after 1 of 1 points; no report written`).MatchString(stderr.String()) {
		t.Errorf("stderr does not say the sweep was interrupted:\n%s", stderr.String())
	}
	if written, _ := filepath.Glob(filepath.Join(dir, "results", "*")); len(written) > 0 {
		t.Errorf("a sweep interrupted after its last point wrote %v", written)
	}
}

// lockedBuffer is a bytes.Buffer a child process writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
