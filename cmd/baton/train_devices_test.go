// Tests of the default device list fitting the model.

package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestTrainTinyDefaultDevices: --model tiny (2 layers) trains with the
// default device list, cut to 2 devices with one line saying so; the same
// 4 devices given with --devices stay an error that says how to fix it.
func TestTrainTinyDefaultDevices(t *testing.T) {
	dir := t.TempDir()
	r := baton(t, dir, "train", "--model", "tiny", "--data", corpus, "--steps", "1", "--quiet", "--out", filepath.Join(dir, "run"))
	if r.code != 0 {
		t.Fatalf("train --model tiny with the default devices: exit %d\n%s", r.code, r.stderr)
	}
	if want := "model tiny has 2 layers: training on 2 of the default devices, cpu:0,cpu:1 (--devices chooses)"; strings.Count(r.stderr, want) != 1 {
		t.Errorf("stderr lacks one line %q:\n%s", want, r.stderr)
	}
	r = baton(t, dir, "train", "--model", "tiny", "--data", corpus, "--steps", "1", "--quiet", "--devices", "cpu:0..3", "--out", filepath.Join(dir, "given"))
	if r.code != 2 || !strings.Contains(r.stderr, "4 devices but only 2 layers") || !strings.Contains(r.stderr, "at most 2 devices") {
		t.Errorf("--devices cpu:0..3 with --model tiny: exit %d, want 2 and an error saying at most 2 devices:\n%s", r.code, r.stderr)
	}
}
