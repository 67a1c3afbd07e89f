//go:build unix

// A run stopped (SIGSTOP) for longer than --timeout and then continued finishes: the time it was stopped stalled no device.
package main

import (
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSIGSTOPLongerThanTheTimeoutFinishes(t *testing.T) {
	t.Parallel()
	const (
		timeout = 2 * time.Second // four times a loaded host's longest action here: a real stall is not what this tests
		steps   = 10
	)
	dir := t.TempDir()
	// With the naive schedule one device waits on the other for most of a
	// step, so a stop in the middle of a step lands inside a receive's
	// wait, where the watchdog runs. Batches of 1024 make a step last about
	// half a second (the run outlives the stops) and its actions longer
	// than the watchdog's beat, so that a stop often falls in a wait with
	// no device's progress to start the count over: without the running-
	// time clock, each stop fails the step about half the time. A stop
	// sent a little after a step's log line lands in the next step, not
	// between two. 10 steps log every step.
	c := startChild(t, dir, tinyTrain("run", steps, "--schedule", "naive", "--batch", "1024", "--timeout", timeout.String(),
		"--save-every", "0", "--eval-every", "0")...)
	stops := []struct {
		after string        // the step line
		delay time.Duration // then this, into the next step
	}{{"2", 150 * time.Millisecond}, {"5", 300 * time.Millisecond}}
	for _, s := range stops {
		c.waitLine(t, regexp.MustCompile(`msg=train step=`+s.after+` `), lineLimit)
		time.Sleep(s.delay)
		c.signal(t, syscall.SIGSTOP)
		time.Sleep(3 * timeout)
		c.signal(t, syscall.SIGCONT)
	}
	code, killed := c.wait(t)
	stderr := c.errText()
	if killed || code != 0 {
		t.Fatalf("stopped %d times for %v with --timeout %v: exit status %d (killed by a signal: %v), want 0; stderr:\n%s",
			len(stops), 3*timeout, timeout, code, killed, stderr)
	}
	if strings.Contains(stderr, "waited") {
		t.Errorf("stderr reports a wait:\n%s", stderr)
	}
	if s := readSummary(t, dir); s.Steps != steps || s.Interrupted {
		t.Errorf("summary.json: %d steps, interrupted %v; want %d, false", s.Steps, s.Interrupted, steps)
	}
}
