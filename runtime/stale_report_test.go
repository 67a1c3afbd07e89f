// A resumed start that a signal stops after its first step, which is not measured, leaves no trace or timeline of an earlier start to pass for its own.

package runtime

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStartWithoutMeasuredStepsLeavesNoEarlierTrace(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	cfg := resumeConfig(t, corpus(t), out, "cpu:0,cpu:1", 4)
	train(t, cfg, 0)
	for _, f := range []string{TraceFile, TimelineFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Fatalf("the first start wrote no %s: %v", f, err)
		}
	}
	cfg.Resume, cfg.Steps = true, 8
	sum := train(t, cfg, 5) // stopped after the start's first step
	if sum.Steps != 5 || sum.Report != nil {
		t.Fatalf("the resumed start: %d steps, report %v; want 5 and none", sum.Steps, sum.Report != nil)
	}
	for _, f := range []string{TraceFile, TimelineFile} {
		if _, err := os.Stat(filepath.Join(out, f)); !os.IsNotExist(err) {
			t.Errorf("the resumed start, which measured no step, left the first start's %s (stat: %v)", f, err)
		}
	}
}
