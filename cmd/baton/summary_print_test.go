// The closing lines of a run list the files it wrote, and only those.
package main

import (
	"bytes"
	"strings"
	"testing"

	"baton/runtime"
	"baton/runtime/report"
)

// TestPrintSummaryListsWhatWasWritten: a run with no measured step (stopped
// at once, or whose last measured steps were on a split it left) has no
// trace or timeline, and one stopped before its first step no checkpoint.
func TestPrintSummaryListsWhatWasWritten(t *testing.T) {
	for _, c := range []struct {
		name      string
		sum       runtime.Summary
		want, not []string
	}{
		{"whole", runtime.Summary{Report: &report.Report{}, Checkpoint: "run/checkpoint"},
			[]string{"run/summary.json", "run/trace.json", "run/timeline.svg", "checkpoint run/checkpoint"}, nil},
		{"nothing measured", runtime.Summary{Checkpoint: "run/checkpoint"},
			[]string{"run/summary.json", "checkpoint run/checkpoint"}, []string{"trace.json", "timeline.svg"}},
		{"no step", runtime.Summary{}, []string{"run/run.json"}, []string{"trace.json", "checkpoint"}},
	} {
		var out bytes.Buffer
		printSummary(&out, &c.sum, "run")
		_, wrote, _ := strings.Cut(out.String(), "\nwrote ")
		for _, w := range c.want {
			if !strings.Contains(wrote, w) {
				t.Errorf("%s: %q does not list %s", c.name, wrote, w)
			}
		}
		for _, n := range c.not {
			if strings.Contains(wrote, n) {
				t.Errorf("%s: %q lists %s, which was not written", c.name, wrote, n)
			}
		}
	}
}
