//go:build unix

// metrics.jsonl across a SIGKILL and a resume: every step's line exactly once, the numbers an uninterrupted run logs.
package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// readMetricsFile is run's metrics.jsonl, a map per line.
func readMetricsFile(t *testing.T, run string) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join(run, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("metrics.jsonl line %d %q: %v", len(out)+1, sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// exact are the fields a resumed run computes bit for bit as an
// uninterrupted one; times, throughput and idle are measured, not computed.
var exact = []string{"step", "loss", "val_loss", "lr", "grad_norm"}

func TestMetricsExactAcrossKillAndResume(t *testing.T) {
	t.Parallel()
	const steps = 300
	dir := t.TempDir()
	args := func(out string) []string {
		return tinyTrain(out, steps, "--save-every", "1", "--eval-every", "7", "--quiet")
	}
	mustRun(t, dir, args("whole")...)
	want := readMetricsFile(t, filepath.Join(dir, "whole"))

	c := startChild(t, dir, args("run")...)
	waitLines(t, filepath.Join(dir, "run", "metrics.jsonl"), 40)
	c.signal(t, os.Kill)
	if _, killed := c.wait(t); !killed {
		t.Fatalf("the run ended before the kill; raise steps")
	}
	ck, _ := loadStep(t, filepath.Join(dir, "run", "checkpoint"))
	got := readMetricsFile(t, filepath.Join(dir, "run"))
	if len(got) < ck {
		t.Fatalf("killed with the checkpoint at step %d but only %d lines in metrics.jsonl: a line before the checkpoint was lost", ck, len(got))
	}
	// What a kill between a line and its checkpoint leaves, made certain:
	// a line past the checkpoint, and one torn in its write.
	f, err := os.OpenFile(filepath.Join(dir, "run", "metrics.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"step":` + itoa(len(got)+1) + `,"loss":99}` + "\n" + `{"step":` + itoa(len(got)+2) + `,"lo`)
	f.Close()

	mustRun(t, dir, append(args("run"), "--resume")...)
	got = readMetricsFile(t, filepath.Join(dir, "run"))
	if len(got) != len(want) {
		t.Fatalf("after the kill at step %d and a resume, metrics.jsonl has %d lines, want %d", ck, len(got), len(want))
	}
	for i := range want {
		for _, k := range exact {
			if !reflect.DeepEqual(got[i][k], want[i][k]) {
				t.Errorf("line %d: %s %v, uninterrupted %v", i+1, k, got[i][k], want[i][k])
			}
		}
	}
	var s wholeSummary
	readJSON(t, filepath.Join(dir, "run", "summary.json"), &s)
	if len(s.Losses) != steps || s.LossesFirstStep != 1 || s.Losses[steps-1] != want[steps-1]["loss"] {
		t.Errorf("summary.json has %d losses from step %d, want all %d from step 1", len(s.Losses), s.LossesFirstStep, steps)
	}
}

// waitLines waits until path holds n lines.
func waitLines(t *testing.T, path string, n int) {
	t.Helper()
	deadline := time.Now().Add(lineLimit)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && countLines(b) >= n {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("%s did not reach %d lines within %v", path, n, lineLimit)
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
