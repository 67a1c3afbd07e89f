// Tests of plan --replay on runs the binary trained: a schedule file's run, and the diagnosis of a run read back.

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A run of a schedule file cannot be replayed under its own schedule: a
// what-if that names one predicts it against the measured step, and one
// that names none says to name one.
func TestReplayOfScheduleFileRun(t *testing.T) {
	dir := t.TempDir()
	if r := baton(t, dir, "schedule", "--schedule", "interleaved", "--stages", "2", "--chunks", "2", "--microbatches", "4", "--out", "il.csv"); r.code != 0 {
		t.Fatalf("schedule: exit %d: %s", r.code, r.stderr)
	}
	if r := baton(t, dir, tinyTrain("run", 3, "--layers", "4", "--schedule-file", "il.csv", "--batch", "4", "--quiet")...); r.code != 0 {
		t.Fatalf("train: exit %d: %s", r.code, r.stderr)
	}
	r := baton(t, dir, "plan", "--replay", "run", "--schedule", "gpipe")
	if r.code != 0 || !strings.Contains(r.stdout, "what if gpipe, 4 micro-batches") || !strings.Contains(r.stdout, "not replayed: a schedule file's run") {
		t.Errorf("plan --replay run --schedule gpipe: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = baton(t, dir, "plan", "--replay", "run", "--balance", "measured")
	if r.code != 0 || !strings.Contains(r.stdout, "choices on 2 devices") {
		t.Errorf("plan --replay run --balance measured: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = baton(t, dir, "plan", "--replay", "run")
	if r.code != 2 || !strings.Contains(r.stderr, "cannot be re-simulated under its own schedule") || !strings.Contains(r.stderr, "--schedule") {
		t.Errorf("plan --replay run: exit %d, stderr %q; want 2 and a message to name a schedule", r.code, r.stderr)
	}
}

// The diagnosis of a run read back names the run's schedule (summary.json
// holds it once, beside the inline report's fields).
func TestReplayDiagnosisNamesTheSchedule(t *testing.T) {
	run := trainedRun(t)
	raw, err := os.ReadFile(filepath.Join(run, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Schedule string `json:"schedule"`
	}
	if err := json.Unmarshal(raw, &sum); err != nil || sum.Schedule == "" {
		t.Fatalf("summary.json: %v, schedule %q", err, sum.Schedule)
	}
	// A memory limit makes the replay diagnose the run afresh from its summary.
	r := baton(t, filepath.Dir(run), "plan", "--replay", filepath.Base(run), "--schedule", "gpipe", "--device-memory", "1GiB")
	if want := "for " + sum.Schedule + " with equal stages"; r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Errorf("plan --replay: exit %d; stdout lacks %q:\n%s\nstderr:\n%s", r.code, want, r.stdout, r.stderr)
	}
}

// A summary.json damaged in what the replay divides by or indexes with is
// refused naming the file, whether replayed or searched, never a panic.
func TestReplayRefusesADamagedSummary(t *testing.T) {
	for name, edit := range map[string]func(map[string]any){
		"no devices":            func(s map[string]any) { s["devices"] = []any{} },
		"stages over 3 devices": func(s map[string]any) { s["devices"] = []any{"cpu:0", "cpu:1", "cpu:2"} },
		"zero micro-batches":    func(s map[string]any) { s["microbatches"] = 0 },
		"zero batch":            func(s map[string]any) { s["batch"] = 0 },
		"no heads":              func(s map[string]any) { s["config"].(map[string]any)["n_head"] = 0 },
		"zero context":          func(s map[string]any) { s["context"] = 0 },
	} {
		dir := t.TempDir()
		withRun(editSummary(edit))(t, dir)
		for _, args := range [][]string{{"plan", "--replay", "run"}, {"plan", "--replay", "run", "--balance", "measured"}} {
			r := baton(t, dir, args...)
			if r.code != 2 || !strings.Contains(r.stderr, "--replay: run/summary.json ") || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 || r.stdout != "" {
				t.Errorf("%s: %s: exit %d, want 2 and one line naming run/summary.json\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), r.code, r.stdout, r.stderr)
			}
		}
	}
}

// TestReplayWhatIfStartsFromTheRun: a what-if changes only what its flags
// name (the run's schedule, split and micro-batches otherwise), and prices
// devices by name: the run's slowed cpu:1~3 named cpu:1 costs a third,
// named cpu:1~6 twice, and a device the run lacked is priced at the mean,
// with a note saying so; the diagnosis on more devices starts from the
// run moved to them.
func TestReplayWhatIfStartsFromTheRun(t *testing.T) {
	dir := t.TempDir()
	if r := baton(t, dir, tinyTrain("run", 4, "--layers", "4", "--devices", "cpu:0,cpu:1~3", "--schedule", "gpipe", "--split", "3,1",
		"--microbatches", "2", "--batch", "4", "--quiet")...); r.code != 0 {
		t.Fatalf("train: exit %d: %s", r.code, r.stderr)
	}
	type prediction struct {
		Schedule string  `json:"schedule"`
		Split    []int   `json:"split"`
		StepS    float64 `json:"pipeline_s"`
	}
	replay := func(flags ...string) (replayed, predicted prediction, notes []string) {
		t.Helper()
		r := baton(t, dir, append([]string{"plan", "--replay", "run", "--json"}, flags...)...)
		var out struct {
			Replayed, Predicted prediction
			Notes               []string
		}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil {
			t.Fatalf("plan --replay run %v: exit %d\nstdout:\n%s\nstderr:\n%s", flags, r.code, r.stdout, r.stderr)
		}
		return out.Replayed, out.Predicted, out.Notes
	}
	own, what, _ := replay()
	if what.Schedule != "gpipe" || len(what.Split) != 2 || what.Split[0] != 3 || what.StepS != own.StepS {
		t.Errorf("a what-if with no flags predicts %+v; want the run's own replay %+v (gpipe, split 3,1)", what, own)
	}
	if _, named, _ := replay("--devices", "cpu:0,cpu:1~3"); named.StepS != own.StepS {
		t.Errorf("the run's own devices, named, predict %v s; want the replay's %v", named.StepS, own.StepS)
	}
	again, faster, notes := replay("--devices", "cpu:0,cpu:1")
	if again.StepS != own.StepS {
		t.Errorf("the run's own replay is %v s asked about other devices, %v s about its own; the run is the same", again.StepS, own.StepS)
	}
	if !(faster.StepS < own.StepS) || len(notes) != 1 || !strings.Contains(notes[0], "cpu:1 is the run's cpu:1~3 at 0.333 times its measured time") {
		t.Errorf("cpu:1 for the run's cpu:1~3: %v s (the run's %v), notes %q; want a shorter step and a note", faster.StepS, own.StepS, notes)
	}
	if _, slower, _ := replay("--devices", "cpu:0,cpu:1~6"); !(slower.StepS > own.StepS) {
		t.Errorf("cpu:1~6 for the run's cpu:1~3: %v s; want longer than the run's %v", slower.StepS, own.StepS)
	}
	if _, _, notes := replay("--devices", "cpu:0,cpu:7", "--schedule", "1f1b"); len(notes) != 1 || !strings.Contains(notes[0], "cpu:7 was not in the run") {
		t.Errorf("cpu:7, not in the run: notes %q; want one saying so", notes)
	}
	// On another device count the diagnosis sets its changes against the
	// run's choice moved there, which is what the what-if predicts.
	r := baton(t, dir, "plan", "--replay", "run", "--json", "--devices", "cpu:0,cpu:1,cpu:2,cpu:3")
	var out struct {
		Predicted prediction
		Diagnosis struct{ Replayed prediction }
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil {
		t.Fatalf("plan --replay on 4 devices: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if out.Diagnosis.Replayed.StepS != out.Predicted.StepS {
		t.Errorf("on 4 devices the diagnosis sets its changes against %v s, the what-if of the run there predicts %v s; want the same", out.Diagnosis.Replayed.StepS, out.Predicted.StepS)
	}
	// ...and says where it is, suggesting nothing re-priced from the run's
	// own split, which is for its 2 devices.
	text := baton(t, dir, "plan", "--replay", "run", "--devices", "cpu:0,cpu:1,cpu:2,cpu:3")
	if !strings.Contains(text.stdout, "On 4 devices instead of the run's 2") || strings.Contains(text.stdout, "instead of  ") {
		t.Errorf("the diagnosis on 4 devices does not say so, or names an empty split:\n%s", text.stdout)
	}
	// Each device by name, with its memory, and where it is over
	// --device-memory, saying so.
	text = baton(t, dir, "plan", "--replay", "run", "--devices", "cpu:0,cpu:1", "--device-memory", "1KiB")
	for _, dev := range []string{"cpu:0", "cpu:1"} {
		if want := regexp.MustCompile(`(?m)^  ` + dev + ` idle \d+\.\d%, memory [0-9.]+ [KM]iB: does not fit --device-memory 1\.00 KiB$`); !want.MatchString(text.stdout) {
			t.Errorf("the what-if within 1 KiB does not say %s is over it (%s):\n%s", dev, want, text.stdout)
		}
	}
}

// TestReplayOfOneStepSaysItAllocated: a one-step run's only measured step
// allocated its buffers; the replay says its times overstate a step's.
func TestReplayOfOneStepSaysItAllocated(t *testing.T) {
	dir := t.TempDir()
	if r := baton(t, dir, tinyTrain("run", 1, "--quiet")...); r.code != 0 {
		t.Fatalf("train: exit %d: %s", r.code, r.stderr)
	}
	for _, flags := range [][]string{nil, {"--devices", "cpu:0,cpu:1"}} {
		r := baton(t, dir, append([]string{"plan", "--replay", "run"}, flags...)...)
		if r.code != 0 || !strings.Contains(r.stdout, "note: the run trained one step, whose times include allocating its buffers") {
			t.Errorf("plan --replay of a one-step run %v: exit %d\nstdout:\n%s\nstderr:\n%s", flags, r.code, r.stdout, r.stderr)
		}
	}
}

// TestReplayNaiveNotesUnusedMicrobatches: plan --replay naive with
// --microbatches says they go unused, as train, plan and schedule do.
func TestReplayNaiveNotesUnusedMicrobatches(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustRun(t, dir, tinyTrain("run", 2)...)
	r := baton(t, dir, "plan", "--replay", "run", "--schedule", "naive", "--microbatches", "8")
	if want := "--schedule naive runs the whole batch as one micro-batch: --microbatches 8 is not used"; r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("plan --replay --schedule naive --microbatches 8: exit %d, want 0 and %q:\n%s", r.code, want, r.stderr)
	}
}

// TestReplayOfInterleavingOnOtherDevices: an interleaved run asked about
// 1f1b on 3 devices, where its own interleaving cannot be (4 micro-batches
// on 3 devices), still gets its what-if and diagnosis.
func TestReplayOfInterleavingOnOtherDevices(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustRun(t, dir, tinyTrain("run", 3, "--layers", "4", "--schedule", "interleaved", "--chunks", "2", "--microbatches", "4", "--quiet")...)
	r := baton(t, dir, "plan", "--replay", "run", "--devices", "cpu:0,cpu:1,cpu:2", "--schedule", "1f1b")
	if r.code != 0 || !strings.Contains(r.stdout, "diagnosis:") {
		t.Errorf("plan --replay of an interleaved run as 1f1b on 3 devices: exit %d, want 0 and a diagnosis:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
