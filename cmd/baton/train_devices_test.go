// Tests of the default device list fitting the model.

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrainTinyDefaultDevices: --model tiny (2 layers) trains with the
// default device list, cut to 2 devices with one line saying so; the same
// 4 devices given with --devices stay an error that says how to fix it.
// The model a run starts from (--init-from) or continues (--resume --override
// of a run without run.json, on the flags given) is fitted alike, once its checkpoint says how deep it is.
func TestTrainTinyDefaultDevices(t *testing.T) {
	dir := t.TempDir()
	r := baton(t, dir, "train", "--model", "tiny", "--data", corpus, "--steps", "1", "--quiet", "--out", filepath.Join(dir, "run"))
	if r.code != 0 {
		t.Fatalf("train --model tiny with the default devices: exit %d\n%s", r.code, r.stderr)
	}
	if want := "model tiny has 2 layers: training on 2 of the default devices, cpu:0,cpu:1 (--devices chooses)"; strings.Count(r.stderr, want) != 1 {
		t.Errorf("stderr lacks one line %q:\n%s", want, r.stderr)
	}
	r = baton(t, dir, "train", "--init-from", filepath.Join(dir, "run"), "--data", corpus, "--steps", "1", "--quiet", "--out", filepath.Join(dir, "from"))
	if r.code != 0 || !strings.Contains(r.stderr, "training on 2 of the default devices") {
		t.Errorf("train --init-from a tiny run with the default devices: exit %d, want 0 and the devices cut to 2:\n%s", r.code, r.stderr)
	}
	if err := os.Remove(filepath.Join(dir, "run", "run.json")); err != nil {
		t.Fatal(err)
	}
	r = baton(t, dir, "train", "--resume", "--override", "--data", corpus, "--steps", "2", "--quiet", "--out", filepath.Join(dir, "run"))
	if r.code != 0 || !strings.Contains(r.stderr, "training on 2 of the default devices") {
		t.Errorf("train --resume of a tiny run without run.json, with the default devices: exit %d, want 0 and the devices cut to 2:\n%s", r.code, r.stderr)
	}
	r = baton(t, dir, "train", "--model", "tiny", "--data", corpus, "--steps", "1", "--quiet", "--devices", "cpu:0..3", "--out", filepath.Join(dir, "given"))
	if r.code != 2 || !strings.Contains(r.stderr, "4 devices but only 2 layers") || !strings.Contains(r.stderr, "at most 2 devices") {
		t.Errorf("--devices cpu:0..3 with --model tiny: exit %d, want 2 and an error saying at most 2 devices:\n%s", r.code, r.stderr)
	}
}

// TestEvalBatchesBeyondTheData: more validation batches than the data
// holds are read as all there are, and the run says so rather than
// evaluating fewer than asked unseen.
func TestEvalBatchesBeyondTheData(t *testing.T) {
	t.Parallel()
	r := baton(t, t.TempDir(), tinyTrain("run", 1, "--quiet", "--eval-batches", "100000")...)
	if want := "fewer than the 100000 asked for: each evaluation reads those"; r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("--eval-batches 100000: exit %d, want 0 and %q:\n%s", r.code, want, r.stderr)
	}
}
