// Tests of Write: a sweep's files are consistent in a reused directory, and none is written once the sweep is stopped.

package bench

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"baton/model"
)

// TestWriteRemovesStaleCharts: a second sweep of the same stem that draws
// no chart removes the first one's, and leaves another tag's alone.
func TestWriteRemovesStaleCharts(t *testing.T) {
	dir := t.TempDir()
	rep := Report{Command: "c", Date: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), Machine: Machine{CPU: "Test CPU", Cores: 2},
		Options: Options{Preset: "tiny", Model: model.Presets["tiny"], Batch: 8, Steps: 3}}
	if _, _, err := Write(context.Background(), dir, rep, handMade()); err != nil {
		t.Fatal(err)
	}
	other := rep
	other.Tag = "other"
	kept, _, err := Write(context.Background(), dir, other, handMade())
	if err != nil {
		t.Fatal(err)
	}
	written, removed, err := Write(context.Background(), dir, rep, handMade()[:1]) // one point: no line, no chart
	if err != nil {
		t.Fatal(err)
	}
	stem := filepath.Join(dir, "2026-11-26-test-2c")
	var want []string
	for _, k := range chartKinds {
		want = append(want, stem+"-"+k+".svg", stem+"-"+k+".png")
	}
	if !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	left, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	if all := slices.Sorted(slices.Values(append(written, kept...))); !slices.Equal(left, all) {
		t.Errorf("files left\n %v\nwant this sweep's and the other tag's\n %v", left, all)
	}
}

// TestWriteNothingOnceStopped: a sweep stopped (by a signal) before its
// files are written writes none, nor makes the directory.
func TestWriteNothingOnceStopped(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep := Report{Machine: Machine{CPU: "Test CPU", Cores: 2}, Options: Options{Preset: "tiny", Model: model.Presets["tiny"], Batch: 8, Steps: 3}}
	written, _, err := Write(ctx, dir, rep, handMade())
	if !errors.Is(err, context.Canceled) || len(written) > 0 {
		t.Errorf("Write after the sweep was stopped: %v, wrote %v", err, written)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Write after the sweep was stopped made %s (%v)", dir, err)
	}
}
