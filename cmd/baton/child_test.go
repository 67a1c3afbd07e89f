//go:build unix

// A baton run as a running child: its stderr read line by line as it comes, so a test can act on what it says.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"baton/model"
)

type child struct {
	cmd      *exec.Cmd
	stdout   bytes.Buffer
	lines    chan string // stderr, a line at a time; closed at EOF
	readDone chan struct{}
	mu       sync.Mutex
	stderr   strings.Builder
	exited   bool
}

// startChild starts baton in dir; the test's cleanup kills it if it still runs.
func startChild(t *testing.T, dir string, args ...string) *child {
	t.Helper()
	return startChildEnv(t, dir, nil, args...)
}

// startChildEnv is startChild with the environment env (nil: the test's).
func startChildEnv(t *testing.T, dir string, env []string, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(batonBin, args...), lines: make(chan string, 4096), readDone: make(chan struct{})}
	c.cmd.Dir, c.cmd.Env = dir, env
	c.cmd.Stdout = &c.stdout
	pipe, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.readDone)
		defer close(c.lines)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			c.mu.Lock()
			c.stderr.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
			select {
			case c.lines <- sc.Text():
			default: // nobody is listening that far behind; stderr keeps it all
			}
		}
	}()
	t.Cleanup(func() {
		if !c.exited {
			c.cmd.Process.Kill()
			c.wait(t)
		}
	})
	return c
}

func (c *child) errText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

// waitLine reads stderr until a line matches re, and returns the match.
// The limit only keeps a broken run from hanging the test.
func (c *child) waitLine(t *testing.T, re *regexp.Regexp, limit time.Duration) []string {
	t.Helper()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				t.Fatalf("baton ended before printing a line matching %q; stderr:\n%s", re, c.errText())
			}
			if m := re.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-timer.C:
			t.Fatalf("no line matching %q within %v; stderr:\n%s", re, limit, c.errText())
		}
	}
}

func (c *child) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("sending %v: %v", sig, err)
	}
}

// wait waits for the child and returns its exit status and whether a
// signal killed it.
func (c *child) wait(t *testing.T) (code int, killed bool) {
	t.Helper()
	<-c.readDone
	err := c.cmd.Wait()
	c.exited = true
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	ws := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return c.cmd.ProcessState.ExitCode(), ws.Signaled()
}

// trainState is the part of a checkpoint's state.json the tests read.
type trainState struct {
	Step int `json:"step"`
}

// loadStep loads the checkpoint in dir with baton's own loader, checks it is
// the tiny model, and returns its step.
func loadStep(t *testing.T, dir string) (int, *model.Checkpoint) {
	t.Helper()
	ck, err := model.LoadResume(dir)
	if err != nil {
		t.Fatalf("the checkpoint does not load: %v", err)
	}
	if ck.Config != model.Presets["tiny"] {
		t.Fatalf("checkpoint %s holds %v, want the tiny model %v", dir, ck.Config, model.Presets["tiny"])
	}
	var st trainState
	if err := json.Unmarshal(ck.State, &st); err != nil {
		t.Fatalf("checkpoint %s: state.json %q: %v", dir, ck.State, err)
	}
	return st.Step, ck
}
