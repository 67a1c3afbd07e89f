//go:build unix

// Ranks whose launcher was killed (SIGKILL: it passes nothing on) stop by themselves, as on SIGTERM, rather than train on unattended.
package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"baton/internal/runlock"
)

// running says whether process pid still runs: neither gone nor a zombie
// (an orphan's new parent may be slow to reap it, or never).
func running(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return syscall.Kill(pid, 0) == nil // no /proc: a zombie counts as running
	}
	// The state follows the command's name in parentheses, which may hold any byte.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

func TestLaunchKilledStopsItsRanks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	c := startChild(t, dir, "launch", "--nproc-per-node", "2", "--redirects", "logs", "--", "train", "--model", "tiny", "--devices", "cpu:0",
		"--data", corpus, "--steps", "100000", "--save-every", "5", "--eval-every", "0", "--eval-batches", "1", "--out", "run", "--timeout", "20s", "--quiet")
	waitCheckpoint(t, run, 5)
	pids := map[int]int{}
	for rank, d := range []string{run, filepath.Join(run, "ranks", "1")} {
		lock, err := os.ReadFile(filepath.Join(d, runlock.Name))
		if err != nil {
			t.Fatal(err)
		}
		if pids[rank], err = strconv.Atoi(strings.TrimSpace(string(lock))); err != nil {
			t.Fatalf("rank %d's lock file holds %q, not a pid", rank, lock)
		}
	}
	// Whatever happens, no rank outlives the test.
	t.Cleanup(func() {
		for _, pid := range pids {
			if running(pid) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	launcher := c.cmd.Process.Pid
	c.cmd.Process.Kill()
	c.wait(t)
	// A look a second, the step, and a checkpoint of the tiny model.
	const limit = 10 * time.Second
	began := time.Now()
	for rank, pid := range pids {
		for running(pid) && time.Since(began) < limit {
			time.Sleep(50 * time.Millisecond)
		}
		if running(pid) {
			t.Errorf("rank %d (pid %d) still runs %v after its launcher was killed", rank, pid, limit)
		}
	}
	// A rank that saw its launcher gone stops as on SIGTERM; one that the
	// other's stop reached first stops with it, at the same step.
	gone := regexp.MustCompile(`(?m)^baton: launcher \(pid ` + strconv.Itoa(launcher) + `\) is gone: stopping as on SIGTERM.*\n(.*\n)*baton: interrupted by SIGTERM at step \d+; checkpoint saved in `)
	with := regexp.MustCompile(`msg="stopped at step \d+ with the other ranks, one of which was interrupted; checkpoint saved in `)
	saw := 0
	for rank := range pids {
		log, err := os.ReadFile(filepath.Join(dir, "logs", "rank"+strconv.Itoa(rank)+".stderr"))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case gone.Match(log):
			saw++
		case !with.Match(log):
			t.Errorf("rank %d's stderr says neither that its launcher is gone and it stopped (%q) nor that it stopped with the other rank (%q):\n%s", rank, gone, with, log)
		}
	}
	if saw == 0 {
		t.Error("no rank said that its launcher is gone")
	}
}

// TestLaunchSignalledThenKilledLetsItsRankSave: a launcher that passes a
// SIGTERM on and is then killed leaves its rank to finish the step and
// save, as that signal asks: the rank, finding its launcher gone, sends
// itself no second signal, which would exit it unsaved.
func TestLaunchSignalledThenKilledLetsItsRankSave(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	// Steps of seconds (a device slowed 15 times): the rank is still in
	// one when it finds its launcher gone.
	c := startChild(t, dir, "launch", "--nproc-per-node", "1", "--redirects", "logs", "--", "train", "--devices", "cpu:0~15",
		"--data", corpus, "--steps", "100000", "--save-every", "1", "--eval-every", "0", "--eval-batches", "1", "--out", "run", "--quiet")
	waitCheckpoint(t, run, 1)
	lock, err := os.ReadFile(filepath.Join(run, runlock.Name))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(lock)))
	if err != nil {
		t.Fatalf("the rank's lock file holds %q, not a pid", lock)
	}
	t.Cleanup(func() {
		if running(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	c.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)
	c.cmd.Process.Kill()
	c.wait(t)
	const limit = 60 * time.Second
	for began := time.Now(); running(pid) && time.Since(began) < limit; {
		time.Sleep(50 * time.Millisecond)
	}
	if running(pid) {
		t.Fatalf("the rank (pid %d) still runs %v after its launcher was killed", pid, limit)
	}
	log, err := os.ReadFile(filepath.Join(dir, "logs", "rank0.stderr"))
	if err != nil {
		t.Fatal(err)
	}
	saved := regexp.MustCompile(`(?m)^baton: interrupted by SIGTERM at step \d+; checkpoint saved in `)
	if !saved.Match(log) || bytes.Contains(log, []byte("second signal")) {
		t.Errorf("the rank's stderr does not say it stopped on the one SIGTERM and saved (%q):\n%s", saved, log)
	}
}
