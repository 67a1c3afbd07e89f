// baton bench refuses, before the sweep, a --peer file it cannot compare and a --tag too long for a file name.

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"baton/bench"
	"baton/internal/fsutil"
)

// benchCases are bad bench command lines for the bad-input catalogue: a
// sweep of one point, so that a case that got past its check would end
// within seconds rather than after a whole sweep.
func benchCases() []badInput {
	onePoint := []string{"bench", "--quick", "--steps=1", "--devices-max=1", "--schedules=naive", "--data=corpus.txt"}
	return []badInput{
		{name: "bench peer file of another model", args: append(onePoint, "--peer=peer.csv"),
			fixture: "peer.csv: PyTorch's figures of gpt2-124m, and a run of another model on 3 devices",
			setup: writeFile("peer.csv", []byte("model,devices,schedule,precision,microbatches,chunks,tokens_per_sec,bubble_measured,bubble_simulated,bubble_analytic,step_s,idle_frac_0,peak_bytes_0\n"+
				"gpt2-124m,1,torch-eager,fp32,1,1,50383.2,,,,0.162600,,3145728\nfoo,3,myrun,fp32,1,1,1000.0,,,,0.100000,,1048576\n")),
			code: 1, msg: "--peer peer.csv: no row of this sweep's model tiny (L=8) on one device, only of gpt2-124m (p=1), foo (p=3)"},
		{name: "bench of more steps than a run takes", args: []string{"bench", "--quick", "--steps=10000000"},
			code: 2, msg: "--steps is 10000000; give at most 9999999: each point trains one warm-up step besides, and a run at most 10000000 steps"},
		{name: "bench of no micro-batch count", args: append(onePoint, "--microbatches="), code: 2, msg: "--microbatches is empty; give the micro-batch counts to sweep, such as 4,8"},
		{name: "bench of no precision cpu: devices compute", args: append(onePoint, "--precision=bf16"),
			code: 2, msg: "--precision bf16: cpu: devices compute in fp32 only; add fp32, or sweep cuda: --devices"},
	}
}

// TestBenchOfNoPointKeepsTheReport: a sweep none of whose points can run
// (16 stages of 8 layers) exits 2 naming the first reason, in flags, and
// leaves the earlier sweep's report as it was.
func TestBenchOfNoPointKeepsTheReport(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(corpus, filepath.Join(dir, "corpus.txt")); err != nil {
		t.Fatal(err)
	}
	if r := baton(t, dir, "bench", "--quick", "--steps=1", "--devices-max=1", "--schedules=naive", "--data=corpus.txt", "--out=res"); r.code != 0 {
		t.Fatalf("the first sweep: exit %d\n%s", r.code, r.stderr)
	}
	before := snapshot(t, dir)
	r := baton(t, dir, "bench", "--quick", "--steps=1", "--devices-max=1", "--schedules=interleaved", "--chunks=16", "--microbatches=4", "--data=corpus.txt", "--out=res")
	if want := "no point of the sweep could run (the first: model: 1 devices × 16 chunks = 16 stages but only 8 layers: every stage needs at least one layer; use fewer --chunks"; r.code != 2 || !strings.Contains(r.stderr, want) {
		t.Errorf("exit %d; want 2 and %q:\n%s", r.code, want, r.stderr)
	}
	if ch := changes(before, snapshot(t, dir)); len(ch) > 0 {
		t.Errorf("a sweep of no point changed the earlier report: %s", strings.Join(ch, ", "))
	}
}

// TestBenchRefusesBeforeTheSweep runs, as TestBadInput runs the catalogue,
// a --tag too long for the sweep's file names, a case the catalogue cannot
// hold: its message counts the bytes of this machine's name.
func TestBenchRefusesBeforeTheSweep(t *testing.T) {
	cases := []badInput{{name: "bench tag too long for a file name",
		args: []string{"bench", "--quick", "--steps=1", "--devices-max=1", "--schedules=naive", "--data=corpus.txt", "--tag=" + strings.Repeat("a", 300)},
		code: 2, msg: "--tag is 300 characters: the sweep's file names would be up to"}}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.Symlink(corpus, filepath.Join(dir, "corpus.txt")); err != nil {
				t.Fatal(err)
			}
			if c.setup != nil {
				c.setup(t, dir)
			}
			before := snapshot(t, dir)
			checkBadInput(t, c, baton(t, dir, c.args...))
			if ch := changes(before, snapshot(t, dir)); len(ch) > 0 {
				t.Errorf("a refused sweep wrote output: %s", strings.Join(ch, ", "))
			}
		})
	}
}

// TestCheckTagUpToNameMax: a --tag is refused only where a file name of
// the sweep would be longer than a file system takes; the temporary names
// they are first written under are cut to fit, and take nothing from it.
func TestCheckTagUpToNameMax(t *testing.T) {
	const stem = "2026-01-01-linux-2cpu-" // the tag follows
	longest := 0
	for _, n := range bench.FileNames(stem) {
		longest = max(longest, len(n))
	}
	fits := strings.Repeat("a", fsutil.NameMax-longest)
	if err := checkTag(stem+fits, fits); err != nil {
		t.Errorf("a tag whose longest file name is %d bytes: %v", fsutil.NameMax, err)
	}
	dir := t.TempDir()
	for _, n := range bench.FileNames(stem + fits) {
		if err := fsutil.WriteFileAtomic(filepath.Join(dir, n), []byte("x")); err != nil {
			t.Error(err)
		}
	}
	long := fits + "a"
	err := checkTag(stem+long, long)
	if want := fmt.Sprintf("give a --tag of at most %d characters", len(fits)); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a tag 1 byte too long: %v, want %q", err, want)
	}
}

// TestBenchRefusesItsOwnCSVAsPeer: a --peer that is the CSV the sweep is
// about to write, named as it is or through a link, is refused before the
// sweep, naming both, and the earlier report is left as it was, instead of
// its rows coming back in the new CSV as measured by this sweep.
func TestBenchRefusesItsOwnCSVAsPeer(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(corpus, filepath.Join(dir, "corpus.txt")); err != nil {
		t.Fatal(err)
	}
	sweep := []string{"bench", "--quick", "--steps=1", "--devices-max=1", "--schedules=naive", "--data=corpus.txt", "--out=res"}
	if r := baton(t, dir, sweep...); r.code != 0 {
		t.Fatalf("the first sweep: exit %d\n%s", r.code, r.stderr)
	}
	csvs, err := filepath.Glob(filepath.Join(dir, "res", "*.csv"))
	if err != nil || len(csvs) != 1 {
		t.Fatalf("the first sweep wrote CSVs %v (%v); want one", csvs, err)
	}
	own := filepath.Join("res", filepath.Base(csvs[0]))
	if err := os.Symlink(own, filepath.Join(dir, "peer.csv")); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	for _, peer := range []string{own, "peer.csv"} {
		r := baton(t, dir, append(sweep, "--peer="+peer)...)
		if want := "--peer " + peer + " is " + own + ", a file this sweep writes"; r.code != 2 || !strings.Contains(r.stderr, want) {
			t.Errorf("--peer %s: exit %d; want 2 and %q:\n%s", peer, r.code, want, r.stderr)
		}
	}
	if ch := changes(before, snapshot(t, dir)); len(ch) > 0 {
		t.Errorf("a refused sweep changed the earlier report: %s", strings.Join(ch, ", "))
	}
}
