// The CLI tests' harness: TestMain builds the baton binary once; helpers run it as a child process on a generated corpus.

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite docs/bad-input.md from the bad-input catalogue")

var (
	batonBin string // the binary TestMain built
	corpus   string // ~100 KB of generated code-like text
	fixtures string // TestMain's scratch directory
)

// childTimeout bounds any one run of the binary, so a hang fails a test
// instead of stalling the whole package.
const childTimeout = 2 * time.Minute

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "baton-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	fixtures = dir
	batonBin = filepath.Join(dir, "baton")
	// The tests exercise the binary a user runs, signals and exit statuses
	// included, which calling main in-process could not show.
	build := exec.Command("go", "build", "-o", batonBin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building baton: %v\n%s", err, out)
		return 1
	}
	corpus = filepath.Join(dir, "corpus.txt")
	if err := os.WriteFile(corpus, codeText(100<<10), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// codeText generates about n bytes of Go-like source, the same every time, so
// that every message that names a size or a loss is reproducible.
func codeText(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	ids := []string{"buf", "n", "err", "i", "sum", "key", "val", "out", "x", "y"}
	id := func() string { return ids[r.IntN(len(ids))] }
	var b bytes.Buffer
	for f := 0; b.Len() < n; f++ {
		fmt.Fprintf(&b, "// f%d adds %s to %s.\nfunc f%d(%s, %s int) (int, error) {\n", f, id(), id(), f, id(), id())
		for range 2 + r.IntN(6) {
			switch r.IntN(4) {
			case 0:
				fmt.Fprintf(&b, "\t%s := %s + %d\n", id(), id(), r.IntN(100))
			case 1:
				fmt.Fprintf(&b, "\tif %s > %d {\n\t\treturn %s, nil\n\t}\n", id(), r.IntN(10), id())
			case 2:
				fmt.Fprintf(&b, "\tfor i := range %d {\n\t\t%s += i\n\t}\n", r.IntN(64), id())
			default:
				fmt.Fprintf(&b, "\tif err != nil {\n\t\treturn 0, fmt.Errorf(\"f%d: %%w\", err)\n\t}\n", f)
			}
		}
		b.WriteString("\treturn 0, nil\n}\n\n")
	}
	return b.Bytes()
}

// result is how a finished child ended.
type result struct {
	code           int // exit status; -1 when killed by a signal
	stdout, stderr string
}

// baton runs the binary in dir with args and waits for it.
func baton(t *testing.T, dir string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, batonBin, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("baton %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("baton %s: still running after %v; stderr:\n%s", strings.Join(args, " "), childTimeout, stderr.String())
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// copyCorpus writes the generated corpus to dir/name, a file of its own,
// and returns its text.
func copyCorpus(t *testing.T, dir, name string) []byte {
	t.Helper()
	text, err := os.ReadFile(corpus)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(name, text)(t, dir)
	return text
}

// tinyTrain is a quick training command line: the tiny model on two virtual
// devices (its two layers) and the generated corpus, with extra appended.
func tinyTrain(out string, steps int, extra ...string) []string {
	return append([]string{"train", "--model", "tiny", "--devices", "cpu:0,cpu:1", "--data", corpus,
		"--steps", fmt.Sprint(steps), "--out", out}, extra...)
}

var (
	baseOnce sync.Once
	baseRun  string
	baseErr  error
)

// trainedRun is a run directory of the tiny model trained for 2 steps,
// made once; tests copy it before changing it.
func trainedRun(t *testing.T) string {
	t.Helper()
	baseOnce.Do(func() {
		dir := filepath.Join(fixtures, "base")
		if baseErr = os.MkdirAll(dir, 0o755); baseErr != nil {
			return
		}
		cmd := exec.Command(batonBin, tinyTrain("run", 2, "--quiet")...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			baseErr = fmt.Errorf("training the base run: %v\n%s", err, out)
			return
		}
		baseRun = filepath.Join(dir, "run")
	})
	if baseErr != nil {
		t.Fatal(baseErr)
	}
	return baseRun
}

// copyTree copies the directory src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// snapshot maps every path under dir to its kind and a hash of its content,
// so that two snapshots differ if anything was created, changed or removed.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.IsDir():
			snap[rel] = "dir"
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			snap[rel] = "link " + target
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			snap[rel] = fmt.Sprintf("file %x", sha256.Sum256(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// changes lists what differs between two snapshots of one directory.
func changes(before, after map[string]string) []string {
	var out []string
	for p, v := range after {
		switch w, ok := before[p]; {
		case !ok:
			out = append(out, "created "+p)
		case w != v:
			out = append(out, "changed "+p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			out = append(out, "removed "+p)
		}
	}
	return out
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// A schedule written by baton schedule --out runs with train and plan
// --schedule-file, and the run's summary names it.
func TestScheduleFileRuns(t *testing.T) {
	dir := t.TempDir()
	r := baton(t, dir, "schedule", "--schedule=zb-h1", "--stages=2", "--microbatches=4", "--out=zb.csv", "--svg=zb.svg")
	if r.code != 0 {
		t.Fatalf("schedule --out: exit %d\n%s", r.code, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "zb.svg")); err != nil || !strings.Contains(string(b), `data-action="1W3"`) {
		t.Errorf("zb.svg does not draw the simulated step's last W: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "zb.csv")); err != nil || !strings.HasPrefix(string(b), "0F0,0F1,0I0,0W0,") {
		t.Fatalf("zb.csv: %v\n%s", err, b)
	}
	r = baton(t, dir, "plan", "--model=tiny", "--devices=cpu:0,cpu:1", "--schedule-file=zb.csv")
	if r.code != 0 || !strings.Contains(r.stdout, "file:zb.csv with 4 micro-batches") {
		t.Errorf("plan --schedule-file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = baton(t, dir, tinyTrain("run", 2, "--schedule-file=zb.csv", "--quiet")...)
	if r.code != 0 {
		t.Fatalf("train --schedule-file: exit %d\n%s", r.code, r.stderr)
	}
	sum, err := os.ReadFile(filepath.Join(dir, "run", "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"schedule": "file:zb.csv"`, `"microbatches": 4`} {
		if !strings.Contains(string(sum), want) {
			t.Errorf("summary.json does not say %s", want)
		}
	}

	// The file rewritten in place with 2 micro-batches: a resume is checked
	// against run.json's 4 as --microbatches 2 would be.
	if r := baton(t, dir, "schedule", "--schedule=1f1b", "--stages=2", "--microbatches=2", "--out=zb.csv"); r.code != 0 {
		t.Fatalf("schedule --out: exit %d\n%s", r.code, r.stderr)
	}
	r = baton(t, dir, "train", "--resume", "--out=run", "--steps=3", "--quiet")
	if want := "--schedule-file zb.csv has 2 micro-batches, run.json's 4"; r.code != 2 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "--override") {
		t.Errorf("resume on the rewritten file: exit %d, want 2 and %q with the fix:\n%s", r.code, want, r.stderr)
	}
	mustRun(t, dir, "train", "--resume", "--out=run", "--steps=3", "--override", "--quiet")
	// Gone from its path, the run's file is not replaced by another unasked.
	if err := os.Rename(filepath.Join(dir, "zb.csv"), filepath.Join(dir, "away.csv")); err != nil {
		t.Fatal(err)
	}
	if r := baton(t, dir, "schedule", "--schedule=gpipe", "--stages=2", "--microbatches=2", "--out=other.csv"); r.code != 0 {
		t.Fatalf("schedule --out: exit %d\n%s", r.code, r.stderr)
	}
	if r := baton(t, dir, "train", "--resume", "--out=run", "--steps=4", "--schedule-file=other.csv", "--quiet"); r.code != 2 || !strings.Contains(r.stderr, "--schedule-file other.csv contradicts run.json's zb.csv") {
		t.Errorf("resume on another schedule file, the run's gone: exit %d, want 2 and the contradiction named:\n%s", r.code, r.stderr)
	}
	if got := readRecord(t, filepath.Join(dir, "run")).Overrides; len(got) != 2 || got[1].Field != "microbatches" || got[1].From != "4" || got[1].To != "2" || got[1].Step != 2 {
		t.Errorf("run.json's overrides after --override: %+v, want steps, then microbatches from 4 to 2 at step 2", got)
	}
}

// TestScheduleJSONNamesDevicesAndChunks: a script reads p and v from the
// JSON, not only the pipeline's stages (p·v), which --stages is not.
func TestScheduleJSONNamesDevicesAndChunks(t *testing.T) {
	r := baton(t, t.TempDir(), "schedule", "--schedule=interleaved", "--stages=4", "--chunks=2", "--microbatches=4", "--json")
	var got struct {
		Devices, Chunks, Stages int
		Actions                 [][]string
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
		t.Fatalf("exit %d, %v:\n%s", r.code, err, r.stderr)
	}
	if got.Devices != 4 || got.Chunks != 2 || got.Stages != 8 || len(got.Actions) != 4 {
		t.Errorf("devices %d, chunks %d, stages %d, %d rows of actions; want 4, 2, 8 and 4", got.Devices, got.Chunks, got.Stages, len(got.Actions))
	}
}

// TestNaiveSaysItIgnoresMicrobatches: naive runs one micro-batch, so a
// --microbatches given with it is named as not used, not dropped unseen.
func TestNaiveSaysItIgnoresMicrobatches(t *testing.T) {
	r := baton(t, t.TempDir(), tinyTrain("run", 1, "--quiet", "--schedule", "naive", "--microbatches", "8")...)
	if want := "--schedule naive runs the whole batch as one micro-batch: --microbatches 8 is not used"; r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("exit %d; want 0 and %q:\n%s", r.code, want, r.stderr)
	}
}

// TestInterleavedWithOneChunkSaysSo: interleaved with one chunk per device
// runs as 1f1b, which train and plan say rather than report it as
// interleaving; with two chunks they say nothing of it.
func TestInterleavedWithOneChunkSaysSo(t *testing.T) {
	dir := t.TempDir()
	want := "--schedule interleaved with --chunks 1 gives each device one stage, as 1f1b does: give --chunks 2 or more to interleave"
	for _, args := range [][]string{
		tinyTrain("run", 1, "--quiet", "--schedule", "interleaved"),
		{"plan", "--model", "tiny", "--schedule", "interleaved"},
	} {
		if r := baton(t, dir, args...); r.code != 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("baton %s: exit %d; want 0 and %q:\n%s", strings.Join(args, " "), r.code, want, r.stderr)
		}
	}
	if r := baton(t, dir, "plan", "--model", "small", "--schedule", "interleaved", "--chunks", "2"); r.code != 0 || strings.Contains(r.stderr, "interleave") {
		t.Errorf("baton plan with --chunks 2: exit %d; want 0 and no note:\n%s", r.code, r.stderr)
	}
}

// TestBalancingFlagsWithoutBalancingAreNamed: --rebalance-every, -gain and
// -warmup typed without --rebalance auto (or, for -warmup, --balance
// measured) are named as not used; a resume of a run whose run.json holds
// them all says nothing of them.
func TestBalancingFlagsWithoutBalancingAreNamed(t *testing.T) {
	dir := t.TempDir()
	r := baton(t, dir, tinyTrain("run", 2, "--quiet", "--rebalance-every", "5", "--rebalance-gain", "0.2", "--rebalance-warmup", "2")...)
	for _, want := range []string{"--rebalance-every is not used: it acts with --rebalance auto", "--rebalance-gain is not used",
		"--rebalance-warmup is not used: it acts with --rebalance auto or --balance measured"} {
		if r.code != 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("exit %d; want 0 and %q:\n%s", r.code, want, r.stderr)
		}
	}
	r = baton(t, dir, tinyTrain("run", 3, "--quiet", "--resume")...)
	if r.code != 0 || strings.Contains(r.stderr, "not used") {
		t.Errorf("resume: exit %d; want 0 and no flag named as not used:\n%s", r.code, r.stderr)
	}
	r = baton(t, dir, tinyTrain("measured", 6, "--quiet", "--balance", "measured", "--rebalance-warmup", "2")...)
	if r.code != 0 || strings.Contains(r.stderr, "not used") {
		t.Errorf("--balance measured --rebalance-warmup 2: exit %d; want 0 and no flag named as not used:\n%s", r.code, r.stderr)
	}
}

// TestPlanPricesASlowedDevice: plan simulates a slowed device's stage as
// that many times longer, so the slowed device idles least.
func TestPlanPricesASlowedDevice(t *testing.T) {
	r := baton(t, t.TempDir(), "plan", "--model", "small", "--devices", "cpu:0,cpu:1~3,cpu:2", "--json")
	var out struct {
		IdleFrac []float64 `json:"idle_frac_simulated"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil || len(out.IdleFrac) != 3 {
		t.Fatalf("plan: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if idle := out.IdleFrac; !(idle[1] < idle[0]/2 && idle[1] < idle[2]/2) {
		t.Errorf("simulated idle %v; want the 3 times slower cpu:1~3 idling far less than the others", idle)
	}
}

// TestEagerOptimizerReportsItsRedoneSteps: a run with the eager optimizer
// step says at its end how many steps it redid, which summary.json counts.
func TestEagerOptimizerReportsItsRedoneSteps(t *testing.T) {
	dir := t.TempDir()
	r := baton(t, dir, tinyTrain("run", 4, "--optimizer-step", "eager", "--max-grad-norm", "1e-6")...)
	if r.code != 0 || !strings.Contains(r.stdout, "eager optimizer: 4 steps of 4 redone") {
		t.Fatalf("exit %d; want 0 and a line of 4 redone steps (every step clips at a norm of 1e-6):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "run", "summary.json"))
	var sum struct {
		Redone int `json:"optimizer_redone_steps"`
		Plan   struct {
			Eager bool `json:"eager_optimizer"`
		} `json:"plan"`
	}
	if err != nil || json.Unmarshal(raw, &sum) != nil || sum.Redone != 4 || !sum.Plan.Eager {
		t.Errorf("summary.json: redone %d, plan eager %v (%v); want 4 and true", sum.Redone, sum.Plan.Eager, err)
	}
}

// TestLayerMapChoosesTheDeviceCount: without --devices, a --layer-map's
// stages choose how many of the default devices run, as a --split's do.
func TestLayerMapChoosesTheDeviceCount(t *testing.T) {
	dir := t.TempDir()
	r := baton(t, dir, "plan", "--model", "small", "--layer-map", "0,0,0,0,1,1,1,1")
	if want := "--layer-map names 2 stages: planning on 2 of the default devices, cpu:0,cpu:1"; r.code != 0 || !strings.Contains(r.stderr+r.stdout, want) {
		t.Errorf("plan: exit %d; want 0 and %q:\n%s\n%s", r.code, want, r.stdout, r.stderr)
	}
	r = baton(t, dir, "train", "--model", "tiny", "--layers", "4", "--data", corpus, "--steps", "1", "--quiet", "--out", "run", "--layer-map", "0,0,1,1")
	if want := "--layer-map names 2 stages: training on 2 of the default devices"; r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("train: exit %d; want 0 and %q:\n%s", r.code, want, r.stderr)
	}
}
