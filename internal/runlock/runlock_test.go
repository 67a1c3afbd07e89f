//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

// Tests of the run lock: refused while held, naming the holder; free again when the holder releases it or dies.

package runlock

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestHeldLockRefusesNamingThePID(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir)
	var busy *BusyError
	if !errors.As(err, &busy) || busy.PID != os.Getpid() || busy.Dir != dir {
		t.Fatalf("second Acquire: %v; want a BusyError naming pid %d", err, os.Getpid())
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l, err = Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l.Release()
}

func TestStaleLockFileDoesNotBlock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, Name)
	if err := os.WriteFile(path, []byte("4194304\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Acquire(dir)
	if err != nil {
		t.Fatalf("a lock file nobody holds blocked: %v", err)
	}
	defer l.Release()
	if b, _ := os.ReadFile(path); string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Errorf("the lock file holds %q, want this process's pid", b)
	}
}

func TestReleaseLeavesNoTrace(t *testing.T) {
	base := t.TempDir()
	l, err := Acquire(filepath.Join(base, "a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(base, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the directories Acquire made are still there (%v)", err)
	}

	// A directory that held something stays, and what it holds.
	dir := filepath.Join(base, "c")
	if l, err = Acquire(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.json"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	l.Release()
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 || entries[0].Name() != "summary.json" {
		t.Errorf("after Release the directory holds %v (%v), want summary.json alone", entries, err)
	}
}

// TestSecondReleaseLeavesTheNextHolder: a lock released twice (on a
// signal's way out and on the return's) removes its file once, not the
// lock file of the holder that came in between.
func TestSecondReleaseLeavesTheNextHolder(t *testing.T) {
	dir := t.TempDir()
	first, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	next, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer next.Release()
	if err := first.Release(); err != nil {
		t.Errorf("the second Release: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, Name)); err != nil {
		t.Errorf("the next holder's lock file: %v", err)
	}
}

// TestLockOfAKilledHolderIsFree runs a holder in a child process, which
// SIGKILL ends without a Release: the kernel's unlock is what frees the
// directory, its lock file still in place.
func TestLockOfAKilledHolderIsFree(t *testing.T) {
	if dir := os.Getenv("RUNLOCK_HOLD"); dir != "" {
		if _, err := Acquire(dir); err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString("held\n")
		select {}
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockOfAKilledHolderIsFree$")
	cmd.Env = append(os.Environ(), "RUNLOCK_HOLD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "held\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the holder said %q", line)
	}
	_, err = Acquire(dir)
	var busy *BusyError
	if !errors.As(err, &busy) || busy.PID != cmd.Process.Pid {
		t.Errorf("while the child holds the lock: %v; want a BusyError naming pid %d", err, cmd.Process.Pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(dir, Name)); err != nil {
		t.Fatalf("the killed holder's lock file: %v", err)
	}
	l, err := Acquire(dir)
	if err != nil {
		t.Fatalf("the lock of a killed holder still blocks: %v", err)
	}
	l.Release()
}
