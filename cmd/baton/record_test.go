// The run's record: a resume takes run.json's settings, an override is recorded, and run.json or its TOML form fed back as --config repeats the run.

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// runRecord is the part of run.json the tests read.
type runRecord struct {
	Config    map[string]any `json:"config"`
	Overrides []struct {
		Field, From, To string
		Step            int
	} `json:"overrides"`
	Starts []struct {
		Step int
		Dir  string
	} `json:"starts"`
	Data struct {
		Source string `json:"source"`
		SHA256 string `json:"sha256"`
	} `json:"data"`
}

func readRecord(t *testing.T, dir string) runRecord {
	t.Helper()
	var r runRecord
	readJSON(t, filepath.Join(dir, "run.json"), &r)
	return r
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// wholeSummary is the part of summary.json the tests read.
type wholeSummary struct {
	SchemaVersion   int       `json:"schema_version"`
	Model           string    `json:"model"`
	Losses          []float64 `json:"losses"`
	LossesFirstStep int       `json:"losses_first_step"`
	Data            struct {
		Source string `json:"source"`
	} `json:"data"`
}

func mustRun(t *testing.T, dir string, args ...string) {
	t.Helper()
	if r := baton(t, dir, args...); r.code != 0 {
		t.Fatalf("baton %v: exit status %d; stderr:\n%s", args, r.code, r.stderr)
	}
}

// TestResumeKeepsTheRunsSettings: a resume given only --out and --steps
// trains on the run's data and model, not the defaults (the Go sources and
// the small model), and its summary's losses cover the whole run.
func TestResumeKeepsTheRunsSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustRun(t, dir, tinyTrain("run", 2, "--quiet", "--batch", "4", "--microbatches", "2")...)
	mustRun(t, dir, "train", "--resume", "--out", "run", "--steps", "4", "--quiet")
	var s wholeSummary
	readJSON(t, filepath.Join(dir, "run", "summary.json"), &s)
	if s.Data.Source != corpus || s.Model != "tiny" {
		t.Errorf("the resumed run trained %s on %s, want tiny on %s", s.Model, s.Data.Source, corpus)
	}
	if s.SchemaVersion != 2 || s.LossesFirstStep != 1 || len(s.Losses) != 4 {
		t.Errorf("summary schema %d has %d losses from step %d, want schema 2 and 4 from step 1", s.SchemaVersion, len(s.Losses), s.LossesFirstStep)
	}
	r := readRecord(t, filepath.Join(dir, "run"))
	if r.Config["batch"] != 4.0 || r.Config["steps"] != 4.0 || len(r.Starts) != 2 || r.Starts[1].Step != 2 {
		t.Errorf("run.json after the resume: batch %v, steps %v, starts %+v; want 4, 4, and a start at step 2", r.Config["batch"], r.Config["steps"], r.Starts)
	}
}

// TestResumeOnOtherDevicesSplitsAnew: run.json's --split is for the run's
// devices; a resume on as many others keeps it, one on another count splits
// anew, saying so ("1 device", not "1 devices"), instead of refusing a
// --split the user never typed.
func TestResumeOnOtherDevicesSplitsAnew(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustRun(t, dir, tinyTrain("run", 2, "--quiet", "--layers", "4", "--split", "3,1")...)
	mustRun(t, dir, "train", "--resume", "--out", "run", "--steps", "3", "--devices", "cpu:2,cpu:3", "--quiet")
	if r := readRecord(t, filepath.Join(dir, "run")); fmt.Sprint(r.Config["split"]) != "[3 1]" {
		t.Errorf("run.json's split after a resume on as many devices: %v, want [3 1]", r.Config["split"])
	}
	r := baton(t, dir, "train", "--resume", "--out", "run", "--steps", "4", "--devices", "cpu:0..3", "--quiet")
	if r.code != 0 || !strings.Contains(r.stderr, "resuming on 4 devices, not the run's 2: its --split 3,1 is not used") {
		t.Fatalf("resume on 4 devices: exit %d; stderr:\n%s", r.code, r.stderr)
	}
	if rec := readRecord(t, filepath.Join(dir, "run")); rec.Config["split"] != nil {
		t.Errorf("run.json's split after the resume on 4 devices: %v, want none", rec.Config["split"])
	}
	mustRun(t, dir, tinyTrain("two", 2, "--quiet", "--layers", "4", "--split", "3,1")...)
	r = baton(t, dir, "train", "--resume", "--out", "two", "--steps", "3", "--devices", "cpu:0", "--quiet")
	if r.code != 0 || !strings.Contains(r.stderr, "resuming on 1 device, not the run's 2: its --split 3,1 is not used") {
		t.Fatalf("resume on 1 device: exit %d; stderr:\n%s", r.code, r.stderr)
	}
}

// TestOverrideIsRecorded: --override lets --lr change on a resume, records
// the change at the checkpoint's step, and the next resume keeps it.
func TestOverrideIsRecorded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustRun(t, dir, tinyTrain("run", 2, "--quiet")...)
	mustRun(t, dir, "train", "--resume", "--out", "run", "--steps", "3", "--lr", "0.003", "--override", "--quiet")
	mustRun(t, dir, "train", "--resume", "--out", "run", "--steps", "4", "--quiet")
	r := readRecord(t, filepath.Join(dir, "run"))
	type override = struct {
		Field, From, To string
		Step            int
	}
	// Each resume grew --steps, which moves the cosine's end: recorded too.
	want := []override{{"steps", "2", "3", 2}, {"lr", "0.001", "0.003", 2}, {"steps", "3", "4", 3}}
	if !slices.Equal(r.Overrides, want) {
		t.Errorf("run.json's overrides are %+v, want %+v", r.Overrides, want)
	}
	if r.Config["lr"] != 0.003 {
		t.Errorf("run.json's lr is %v after the override, want 0.003", r.Config["lr"])
	}
	m := readMetricsFile(t, filepath.Join(dir, "run"))
	// Warm-up is 30 steps: the learning rate of step s is lr·s/30.
	for i, want := range []float64{0.001 / 30, 0.002 / 30, 0.009 / 30, 0.012 / 30} {
		if got := m[i]["lr"].(float64); math.Abs(got-want) > 1e-9 {
			t.Errorf("step %d: lr %v, want %v", i+1, got, want)
		}
	}
}

// TestResumeSaysTheLearningRateMoves: --steps moves the cosine's end, so
// a resume that cuts a run short or extends it past its end says what rate
// its first step trains at, beside the one the run would have used; a resume
// within the warm-up, where the rate does not depend on --steps, says nothing.
func TestResumeSaysTheLearningRateMoves(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustRun(t, dir, tinyTrain("run", 2, "--quiet", "--warmup", "1", "--save-every", "1")...)
	r := baton(t, dir, "train", "--resume", "--out", "run", "--steps", "12", "--quiet")
	if want := "the run's 12 steps, not run.json's 2, move the learning rate's cosine, which ends at the last step: step 3 trains at 0.000929, not 0.0001"; r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("resume past the run's end: exit %d, want 0 and %q:\n%s", r.code, want, r.stderr)
	}
	mustRun(t, dir, tinyTrain("early", 1, "--quiet")...)
	if r := baton(t, dir, "train", "--resume", "--out", "early", "--steps", "2", "--quiet"); r.code != 0 || strings.Contains(r.stderr, "learning rate's cosine") {
		t.Errorf("resume within the warm-up: exit %d, want 0 and no word of the learning rate:\n%s", r.code, r.stderr)
	}
}

// TestResumeRefusesChangedData: a resume whose data file now holds other
// text is refused, naming both checksums, and leaves run.json as it was;
// with --override it trains on and records the change.
func TestResumeRefusesChangedData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	text := copyCorpus(t, dir, "text.txt")
	own := filepath.Join(dir, "text.txt")
	mustRun(t, dir, tinyTrain("run", 2, "--quiet", "--data", own)...)
	before := readRecord(t, filepath.Join(dir, "run"))
	if err := os.WriteFile(own, bytes.ToUpper(text), 0o644); err != nil {
		t.Fatal(err)
	}
	r := baton(t, dir, "train", "--resume", "--out", "run", "--steps", "3", "--quiet")
	if want := "the data's tokens differ from those the run trained on (run.json's data.sha256 " + before.Data.SHA256[:12]; r.code == 0 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "--override") {
		t.Fatalf("resume on changed data: exit %d, want non-zero and %q with the fix:\n%s", r.code, want, r.stderr)
	}
	if after := readRecord(t, filepath.Join(dir, "run")); !reflect.DeepEqual(after, before) {
		t.Errorf("a refused resume changed run.json:\n%+v\nwant\n%+v", after, before)
	}
	mustRun(t, dir, "train", "--resume", "--out", "run", "--steps", "3", "--override", "--quiet")
	after := readRecord(t, filepath.Join(dir, "run"))
	// The steps' growth is recorded too (TestOverrideIsRecorded).
	if len(after.Overrides) != 2 || after.Overrides[0].Field != "data.sha256" || after.Overrides[0].From != before.Data.SHA256 ||
		after.Overrides[0].To != after.Data.SHA256 || after.Overrides[0].Step != 2 || after.Data.SHA256 == before.Data.SHA256 || after.Overrides[1].Field != "steps" {
		t.Errorf("run.json's overrides after --override are %+v, want data.sha256 from %s to the new data's %s at step 2, then steps", after.Overrides, before.Data.SHA256, after.Data.SHA256)
	}
}

// withElsewhere makes a directory holding the corpus as text.txt and an
// empty directory elsewhere/ in it, from which a run begun in the first is
// continued or fed back.
func withElsewhere(t *testing.T) (dir, other string) {
	t.Helper()
	dir = t.TempDir()
	copyCorpus(t, dir, "text.txt")
	other = filepath.Join(dir, "elsewhere")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, other
}

// TestResumeFromAnotherDirectory: a run given a relative --data resumes
// from another directory, reading the data where the run last started
// (run.json's starts' dir) and saying so, and its run.json as --config
// does the same; gone from there too, the error says where it looked.
func TestResumeFromAnotherDirectory(t *testing.T) {
	t.Parallel()
	dir, other := withElsewhere(t)
	mustRun(t, dir, "train", "--model", "tiny", "--devices", "cpu:0,cpu:1", "--data", "text.txt", "--steps", "2", "--out", "run", "--quiet")
	if r := readRecord(t, filepath.Join(dir, "run")); r.Starts[0].Dir != dir {
		t.Errorf("run.json's first start ran in %q, want %q", r.Starts[0].Dir, dir)
	}
	first, err := os.ReadFile(filepath.Join(dir, "run", "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile("first.json", first)(t, dir)
	if err := os.Rename(filepath.Join(dir, "run"), filepath.Join(other, "run")); err != nil {
		t.Fatal(err)
	}
	r := baton(t, other, "train", "--resume", "--out", "run", "--steps", "3", "--quiet")
	if want := "run.json's data text.txt is relative to " + dir + ", where the run last started: reading " + filepath.Join(dir, "text.txt"); r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Fatalf("resume from another directory: exit %d, want 0 and %q:\n%s", r.code, want, r.stderr)
	}
	if r := readRecord(t, filepath.Join(other, "run")); r.Config["data"] != filepath.Join(dir, "text.txt") || r.Starts[1].Dir != other {
		t.Errorf("run.json after the resume: data %v, second start in %q; want %s from %s", r.Config["data"], r.Starts[1].Dir, filepath.Join(dir, "text.txt"), other)
	}
	// The first run's record as --config from elsewhere: its relative data
	// is read where that run started, as a resume reads it.
	r = baton(t, other, "train", "--config", filepath.Join(dir, "first.json"), "--steps", "1", "--out", "again", "--quiet")
	if want := "first.json's data text.txt is relative to " + dir + ", where that run last started: reading " + filepath.Join(dir, "text.txt"); r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("--config of a run begun elsewhere: exit %d, want 0 and %q:\n%s", r.code, want, r.stderr)
	}
	// The record's relative path, given again spelled from here, is the
	// run's data, not a contradiction, though a file of that relative name
	// lies here too.
	editRecord(func(rec map[string]any) {
		rec["config"].(map[string]any)["data"] = "text.txt"
		starts := rec["starts"].([]any)
		starts[len(starts)-1].(map[string]any)["dir"] = dir
	})(t, other)
	writeFile("text.txt", []byte("another text of the same name, here"))(t, other)
	if r := baton(t, other, "train", "--resume", "--out", "run", "--steps", "4", "--data", "../text.txt", "--quiet"); r.code != 0 {
		t.Errorf("resume given the run's data spelled from elsewhere: exit %d, want 0:\n%s", r.code, r.stderr)
	}
	if err := os.Remove(filepath.Join(other, "text.txt")); err != nil {
		t.Fatal(err)
	}
	editRecord(func(rec map[string]any) { rec["config"].(map[string]any)["data"] = "gone.txt" })(t, other)
	r = baton(t, other, "train", "--resume", "--out", "run", "--steps", "5", "--quiet")
	if want := "run.json's data gone.txt names no file in " + other + ", where the run last started; give --data"; r.code != 2 || !strings.Contains(r.stderr, want) {
		t.Errorf("resume on a relative path found nowhere: exit %d, want 2 and %q:\n%s", r.code, want, r.stderr)
	}
	// As it says: the file given is read, its tokens checked against the run's.
	r = baton(t, other, "train", "--resume", "--out", "run", "--steps", "5", "--data", "../text.txt", "--quiet")
	if want := "run.json's data gone.txt names no file any more: reading --data ../text.txt"; r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("resume given the data whose recorded path names nothing: exit %d, want 0 and %q:\n%s", r.code, want, r.stderr)
	}
}

// TestResumeReadsRecordSchema1: a run.json of schema 1, whose plan's
// stages say no stashes, still resumes, and is rewritten as the current schema.
func TestResumeReadsRecordSchema1(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustRun(t, dir, tinyTrain("run", 2, "--quiet")...)
	editRecord(func(r map[string]any) {
		r["schema_version"] = 1
		for _, st := range r["plan"].(map[string]any)["stages"].([]any) {
			delete(st.(map[string]any), "stashes")
		}
	})(t, dir)
	mustRun(t, dir, "train", "--resume", "--out", "run", "--steps", "3", "--quiet")
	var r struct {
		SchemaVersion int `json:"schema_version"`
	}
	readJSON(t, filepath.Join(dir, "run", "run.json"), &r)
	if r.SchemaVersion != 3 {
		t.Errorf("run.json after the resume has schema_version %d, want 3", r.SchemaVersion)
	}
}

// TestConfigRoundTrip: run.json fed back as --config, and the same settings
// as TOML, give a run of the same configuration and losses; a flag given
// beside --config wins.
func TestConfigRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustRun(t, dir, tinyTrain("a", 3, "--quiet", "--lr", "0.002", "--batch", "4", "--microbatches", "2",
		"--warmup", "2", "--seed", "7", "--eval-every", "2", "--schedule", "gpipe", "--log-every", "2")...)
	want := readRecord(t, filepath.Join(dir, "a"))
	mustRun(t, dir, "train", "--config", "a/run.json", "--out", "b", "--quiet")
	var tomlText bytes.Buffer
	if err := toml.NewEncoder(&tomlText).Encode(want.Config); err != nil {
		t.Fatal(err)
	}
	writeFile("c.toml", tomlText.Bytes())(t, dir)
	mustRun(t, dir, "train", "--config", "c.toml", "--out", "c", "--quiet")
	mustRun(t, dir, "train", "--config", "c.toml", "--out", "d", "--lr", "0.005", "--quiet")
	for _, out := range []string{"b", "c"} {
		got := readRecord(t, filepath.Join(dir, out))
		if !reflect.DeepEqual(got.Config, want.Config) {
			t.Errorf("%s/run.json's config is\n%v\nwant a/run.json's\n%v", out, got.Config, want.Config)
		}
		if got.Data.SHA256 != want.Data.SHA256 || got.Data.SHA256 == "" {
			t.Errorf("%s: data checksum %q, want %q", out, got.Data.SHA256, want.Data.SHA256)
		}
		if a, b := readMetricsFile(t, filepath.Join(dir, "a")), readMetricsFile(t, filepath.Join(dir, out)); a[len(a)-1]["loss"] != b[len(b)-1]["loss"] {
			t.Errorf("%s's last loss %v differs from a's %v", out, b[len(b)-1]["loss"], a[len(a)-1]["loss"])
		}
	}
	if d := readRecord(t, filepath.Join(dir, "d")); d.Config["lr"] != 0.005 || d.Config["seed"] != 7.0 {
		t.Errorf("with --lr 0.005 beside --config: lr %v, seed %v; want 0.005 and the file's 7", d.Config["lr"], d.Config["seed"])
	}
}

// TestResumeWithoutRecord: a run directory without run.json (from before
// baton wrote one, or the file lost) is refused, exit status 1, rather than
// resumed on defaults the run may not have had; with --override it resumes
// on the flags given, its model named by the checkpoint rather than by
// --model's default, and gains a run.json.
func TestResumeWithoutRecord(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustRun(t, dir, tinyTrain("run", 2, "--quiet")...)
	if err := os.Remove(filepath.Join(dir, "run", "run.json")); err != nil {
		t.Fatal(err)
	}
	resume := []string{"train", "--resume", "--out", "run", "--steps", "3", "--data", corpus, "--devices", "cpu:0,cpu:1", "--quiet"}
	if r := baton(t, dir, resume...); r.code != 1 || !strings.Contains(r.stderr, "run/run.json is missing") || !strings.Contains(r.stderr, "--override") {
		t.Fatalf("resume without run.json: exit status %d, want 1 saying run.json is missing and --override; stderr:\n%s", r.code, r.stderr)
	}
	mustRun(t, dir, append(resume, "--override")...)
	var s wholeSummary
	readJSON(t, filepath.Join(dir, "run", "summary.json"), &s)
	if r := readRecord(t, filepath.Join(dir, "run")); s.Model != "tiny" || r.Config["model"] != "tiny" {
		t.Errorf("the resumed run is named %q in summary.json and %v in run.json, want tiny", s.Model, r.Config["model"])
	}
}

// TestConfigNumbers: JSON and TOML agree: a whole number written as a
// float (2.0, 1e1) sets an integer flag, and a fraction is refused naming
// its key; a second JSON object is refused, not ignored; a file of another
// name opening with a brace is JSON.
func TestConfigNumbers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct{ file, text, err string }{
		{"a.json", `{"steps": 2.0, "batch": 1e1}`, ""},
		{"a.toml", "steps = 2.0\nbatch = 1e1\n", ""},
		{"a.txt", ` {"steps": 2, "batch": 10}`, ""}, // JSON by its brace, whatever its name
		{"b.json", `{"steps": 2.5}`, "steps = 2.5: not a whole number"},
		{"b.toml", "steps = 2.5\n", "steps = 2.5: not a whole number"},
		{"c.json", "{\"steps\": 2}\n{\"lr\": 0.5, \"colour\": 1}\n", "--config " + filepath.Join(dir, "c.json") + ": more after the first JSON object"},
	} {
		path := filepath.Join(dir, c.file)
		writeFile(c.file, []byte(c.text))(t, dir)
		fl := trainCmd().Flags()
		_, _, err := applyConfig(fl, path)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want one saying %q", c.text, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.text, err)
		case c.err == "" && (fl.Lookup("steps").Value.String() != "2" || fl.Lookup("batch").Value.String() != "10"):
			t.Errorf("%s: --steps %s, --batch %s; want 2 and 10", c.text, fl.Lookup("steps").Value, fl.Lookup("batch").Value)
		}
	}
}

// TestConfigModelGivenWins: a --model on the command line is the model,
// though the configuration file (a run.json holds every size) describes
// another: the file's sizes are left out, saying so; a size flag given
// beside it still applies, and with the file's own model, or from a file
// that names none, the sizes do too.
func TestConfigModelGivenWins(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile("c.toml", []byte("model = \"tiny\"\nlayers = 3\nwidth = 64\n"))(t, dir)
	writeFile("sizes.toml", []byte("layers = 3\n"))(t, dir)
	path := filepath.Join(dir, "c.toml")
	for _, c := range []struct {
		file         string
		args         []string
		layers, note string
	}{
		{"c.toml", []string{"--model=small"}, "0", "--model small replaces the model of " + path + " (tiny), leaving out its layers, width"},
		{"c.toml", []string{"--model=small", "--layers=5"}, "5", "leaving out its width"},
		{"c.toml", []string{"--model=tiny"}, "3", ""},
		{"c.toml", nil, "3", ""},
		{"sizes.toml", []string{"--model=tiny"}, "3", ""}, // it names no model: its sizes are the given preset's
	} {
		fl := trainCmd().Flags()
		if err := fl.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		_, note, err := applyConfig(fl, filepath.Join(dir, c.file))
		if err != nil || fl.Lookup("layers").Value.String() != c.layers || !strings.Contains(note, c.note) || (c.note == "") != (note == "") {
			t.Errorf("%v with %s: --layers %s, note %q, %v; want --layers %s and a note saying %q", c.args, c.file, fl.Lookup("layers").Value, note, err, c.layers, c.note)
		}
	}
}

// TestConfigScheduleGivenWins: a --schedule on the command line replaces
// the configuration file's schedule-file, saying so.
func TestConfigScheduleGivenWins(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile("c.toml", []byte("schedule-file = \"s.csv\"\n"))(t, dir)
	path := filepath.Join(dir, "c.toml")
	fl := trainCmd().Flags()
	if err := fl.Parse([]string{"--schedule=gpipe"}); err != nil {
		t.Fatal(err)
	}
	_, note, err := applyConfig(fl, path)
	if want := "--schedule gpipe replaces " + path + "'s schedule-file s.csv"; err != nil || note != want || fl.Lookup("schedule-file").Value.String() != "" {
		t.Errorf("--schedule gpipe with %s: --schedule-file %q, note %q, %v; want none and the note %q", path, fl.Lookup("schedule-file").Value, note, err, want)
	}
}

// TestResumeOfAGlobRun: a run on shards named by a glob resumes from
// another directory with the glob read where it started, and given the
// glob again says nothing of a missing file (a pattern is no file).
func TestResumeOfAGlobRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustRun(t, dir, "tokenize", "--out", "shards", corpus)
	mustRun(t, dir, "train", "--model", "gpt2-124m", "--layers", "1", "--width", "32", "--heads", "4", "--context", "16", "--devices", "cpu:0",
		"--data", "shards/*.bin", "--steps", "1", "--batch", "2", "--microbatches", "1", "--out", "run", "--quiet")
	other := filepath.Join(dir, "elsewhere")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if r := baton(t, other, "train", "--resume", "--out", "../run", "--steps", "2", "--quiet"); r.code != 0 || !strings.Contains(r.stderr, "reading "+filepath.Join(dir, "shards/*.bin")) {
		t.Errorf("resume of a glob run from elsewhere: exit %d, want 0 and the glob read where the run started:\n%s", r.code, r.stderr)
	}
	if r := baton(t, dir, "train", "--resume", "--out", "run", "--steps", "3", "--data", "shards/*.bin", "--quiet"); r.code != 0 || strings.Contains(r.stderr, "names no file") {
		t.Errorf("resume given the glob again: exit %d, want 0 and no word of a missing file:\n%s", r.code, r.stderr)
	}
}

// TestConfigInitFromIsRelativeToItsRun: a run.json given as --config from
// another directory reads its relative --init-from where that run started,
// as it reads its data.
func TestConfigInitFromIsRelativeToItsRun(t *testing.T) {
	t.Parallel()
	dir, other := withElsewhere(t)
	mustRun(t, dir, "train", "--model", "tiny", "--devices", "cpu:0", "--data", "text.txt", "--steps", "1", "--out", "base", "--quiet")
	mustRun(t, dir, "train", "--init-from", "base", "--devices", "cpu:0", "--data", "text.txt", "--steps", "1", "--out", "tuned", "--quiet")
	r := baton(t, other, "train", "--config", filepath.Join(dir, "tuned", "run.json"), "--out", "again", "--quiet")
	if want := "run.json's init-from base is relative to " + dir + ", where that run last started: reading " + filepath.Join(dir, "base"); r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("--config of a run started from base, from elsewhere: exit %d, want 0 and %q:\n%s", r.code, want, r.stderr)
	}
}

// TestResumeInAnotherPrecisionDropsTheBF16Rounding: a bf16 run with
// stochastic rounding resumed with --precision fp32 leaves the rounding,
// which is bf16 weights' alone, out with a note, instead of refusing the
// precision asked for by suggesting bf16.
func TestResumeInAnotherPrecisionDropsTheBF16Rounding(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustRun(t, dir, tinyTrain("run", 2)...)
	editRecord(func(rec map[string]any) {
		c := rec["config"].(map[string]any)
		c["precision"], c["bf16-rounding"] = "bf16", "stochastic" // as a GPU run records them
	})(t, dir)
	r := baton(t, dir, "train", "--resume", "--out", "run", "--steps", "3", "--precision", "fp32", "--quiet")
	if want := "resuming in fp32: the run's --bf16-rounding stochastic, for bf16 weights, is not used"; r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("resume of a bf16 run in fp32: exit %d, want 0 and %q:\n%s", r.code, want, r.stderr)
	}
}
