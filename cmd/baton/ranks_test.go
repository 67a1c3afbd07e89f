//go:build unix

// Ranks as separate processes, started with torchrun's variables set by hand: one process's results, a rank killed or stopped, a rank started otherwise; every rank ends, the last checkpoint loads, and a resume on another rank count continues exactly.
package main

import (
	"baton/model"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rankEnv is torchrun's environment for rank r of world on this host.
func rankEnv(r, world, port int) []string {
	return append(os.Environ(), fmt.Sprintf("RANK=%d", r), fmt.Sprintf("WORLD_SIZE=%d", world), fmt.Sprintf("LOCAL_RANK=%d", r),
		fmt.Sprintf("LOCAL_WORLD_SIZE=%d", world), "MASTER_ADDR=127.0.0.1", fmt.Sprintf("MASTER_PORT=%d", port))
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startRanks starts world ranks of `baton train` in dir, one device each,
// with args after the tiny model's.
func startRanks(t *testing.T, dir string, world int, args ...string) []*child {
	t.Helper()
	port := freeTCPPort(t)
	ranks := make([]*child, world)
	for r := range ranks {
		base := append([]string{"train", "--model", "tiny", "--devices", "cpu:0", "--data", corpus}, args...)
		ranks[r] = startChildEnv(t, dir, rankEnv(r, world, port), base...)
	}
	return ranks
}

// waitCheckpoint waits until run's checkpoint holds step at least.
func waitCheckpoint(t *testing.T, run string, step int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if ck, err := model.Load(filepath.Join(run, "checkpoint")); err == nil {
			var st trainState
			if json.Unmarshal(ck.State, &st) == nil && st.Step >= step {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no checkpoint of step %d in %s within a minute", step, run)
}

// endsWithin waits for c to exit, failing unless it does so within limit
// with status and a line matching re.
func endsWithin(t *testing.T, c *child, name string, limit time.Duration, status int, re *regexp.Regexp) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-time.After(limit):
			c.cmd.Process.Kill()
		}
	}()
	start := time.Now()
	code, killed := c.wait(t)
	close(done)
	if took := time.Since(start); took >= limit || killed || code != status {
		t.Fatalf("%s ended after %v (limit %v) with status %d (killed: %v), want %d; stderr:\n%s", name, took, limit, code, killed, status, c.errText())
	}
	if !re.MatchString(c.errText()) {
		t.Errorf("%s's stderr does not say %q:\n%s", name, re, c.errText())
	}
}

// resumesExactly resumes run on devices for 3 more steps than its
// checkpoint and checks it against a run that was never stopped.
func resumesExactly(t *testing.T, dir, run, devices string) {
	t.Helper()
	step, _ := loadStep(t, filepath.Join(dir, run, "checkpoint"))
	resume := append(tinyTrain(run, step+3, "--resume", "--quiet", "--eval-every", "0", "--eval-batches", "1"), "--devices", devices)
	if r := baton(t, dir, resume...); r.code != 0 {
		t.Fatalf("resuming on %s: status %d\n%s", devices, r.code, r.stderr)
	}
	whole := tinyTrain("whole", step+3, "--quiet", "--eval-every", "0", "--eval-batches", "1", "--save-every", "5")
	if r := baton(t, dir, whole...); r.code != 0 {
		t.Fatalf("the uninterrupted run: status %d\n%s", r.code, r.stderr)
	}
	_, got := loadStep(t, filepath.Join(dir, run, "checkpoint"))
	_, want := loadStep(t, filepath.Join(dir, "whole", "checkpoint"))
	for name, w := range want.Params {
		for j := range w {
			if got.Params[name][j] != w[j] || got.M[name][j] != want.M[name][j] {
				t.Fatalf("%s[%d]: the resumed run differs from the uninterrupted one", name, j)
			}
		}
	}
}

// Where a rank fails, its one line names the other rank, its host, and
// what this rank was doing: an action of the step, or between steps the
// stop flags, or a checkpoint's parts.
var (
	between     = `(before step \d+|step \d+'s checkpoint[^:]*)`
	lostRank1   = regexp.MustCompile(between + `: rank 1 \(127\.0\.0\.1\): |rank 1 \(127\.0\.0\.1\): connection lost: [^\n]*; this rank was (waiting for \S+ from rank 1|sending)`)
	silentRank1 = regexp.MustCompile(`waited 2s for \S+ from rank 1 \(127\.0\.0\.1\) without progress|` + between + `: rank 1 \(127\.0\.0\.1\) sent nothing for 2s`)
)

func TestRankKilledStopsTheOthers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ranks := startRanks(t, dir, 2, "--steps", "100000", "--save-every", "5", "--eval-every", "0", "--eval-batches", "1", "--out", "run", "--timeout", "20s")
	waitCheckpoint(t, filepath.Join(dir, "run"), 10)
	ranks[1].signal(t, syscall.SIGKILL)
	ranks[1].wait(t)
	endsWithin(t, ranks[0], "rank 0", 10*time.Second, lostRankStatus, lostRank1)
	resumesExactly(t, dir, "run", "cpu:0,cpu:1")
}

func TestRankStoppedPastTheTimeout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ranks := startRanks(t, dir, 2, "--steps", "100000", "--save-every", "5", "--eval-every", "0", "--eval-batches", "1", "--out", "run", "--timeout", "2s")
	waitCheckpoint(t, filepath.Join(dir, "run"), 10)
	ranks[1].signal(t, syscall.SIGSTOP)
	endsWithin(t, ranks[0], "rank 0", 10*time.Second, lostRankStatus, silentRank1)
	ranks[1].signal(t, syscall.SIGCONT)
	endsWithin(t, ranks[1], "rank 1", 10*time.Second, lostRankStatus, regexp.MustCompile(`rank 0 \(127\.0\.0\.1\)`))
	resumesExactly(t, dir, "run", "cpu:0")
}

// TestRankInterruptedStopsTheOthers: SIGINT to one rank stops every rank at
// one step with the checkpoint saved; the rank interrupted exits 130 saying
// so, the other exits 0 saying it stopped with it (its own work done, no
// failure of its own for a launcher to count), and rank 0 writes the run's
// summary.
func TestRankInterruptedStopsTheOthers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ranks := startRanks(t, dir, 2, "--steps", "100000", "--save-every", "5", "--eval-every", "0", "--eval-batches", "1", "--out", "run", "--timeout", "20s")
	waitCheckpoint(t, filepath.Join(dir, "run"), 5)
	ranks[1].signal(t, syscall.SIGINT)
	if code, killed := ranks[1].wait(t); killed || code != 130 || !strings.Contains(ranks[1].errText(), "interrupted by SIGINT at step") {
		t.Errorf("rank 1, interrupted: status %d (killed: %v), want 130 and a line saying so; stderr:\n%s", code, killed, ranks[1].errText())
	}
	code, killed := ranks[0].wait(t)
	if want := regexp.MustCompile(`stopped at step \d+ with the other ranks, one of which was interrupted; checkpoint saved in run/checkpoint`); killed || code != 0 || !want.MatchString(ranks[0].errText()) {
		t.Errorf("rank 0, stopped with rank 1: status %d (killed: %v), want 0 and %q; stderr:\n%s", code, killed, want, ranks[0].errText())
	}
	if !exists(filepath.Join(dir, "run", "summary.json")) {
		t.Error("rank 0 wrote no summary.json")
	}
	resumesExactly(t, dir, "run", "cpu:0,cpu:1")
}

func TestRankStartedOtherwiseIsRefusedByAll(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	port := freeTCPPort(t)
	common := []string{"train", "--model", "tiny", "--devices", "cpu:0", "--data", corpus, "--steps", "3", "--out", "run"}
	a := startChildEnv(t, dir, rankEnv(0, 2, port), common...)
	b := startChildEnv(t, dir, rankEnv(1, 2, port), append(common, "--lr", "0.002")...)
	re := regexp.MustCompile(`rank 1 was started with --lr 0\.002 but rank 0 with 0\.001`)
	endsWithin(t, a, "rank 0", 20*time.Second, 2, re)
	endsWithin(t, b, "rank 1", 20*time.Second, 2, re)
	if exists(filepath.Join(dir, "run", "checkpoint")) {
		t.Error("a refused run left a checkpoint")
	}
}

// TestRanksOfAnotherWorldAreRefusedAtOnce: ranks started with other world
// sizes say so at once (status 2), each naming the same two ranks, rather
// than wait out --timeout for a rank that will never come: here rank 1,
// then rank 2, which none was started as (two nodes' launchers given other
// --nproc-per-node), where only the rank of the other world can tell them.
func TestRanksOfAnotherWorldAreRefusedAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	common := []string{"train", "--model", "tiny", "--devices", "cpu:0", "--data", corpus, "--steps", "3", "--out", "run", "--timeout", "5m"}
	for _, c := range []struct {
		ranks, worlds []int
		want          string
	}{
		{[]int{0, 1}, []int{2, 3}, "rank 0 was started as one of 2 ranks, rank 1 as one of 3"},
		{[]int{0, 1, 3}, []int{3, 3, 4}, "rank 0 was started as one of 3 ranks, rank 3 as one of 4"},
	} {
		port := freeTCPPort(t)
		var ranks []*child
		for i, r := range c.ranks {
			ranks = append(ranks, startChildEnv(t, dir, rankEnv(r, c.worlds[i], port), common...))
		}
		re := regexp.MustCompile(`rank \d of \d: ` + c.want + ` \(the launcher's WORLD_SIZE, SLURM_NTASKS or OMPI_COMM_WORLD_SIZE\); start every rank with the same number of ranks\n$`)
		for i, rank := range ranks {
			endsWithin(t, rank, fmt.Sprint("rank ", c.ranks[i]), 20*time.Second, 2, re)
		}
	}
}

// TestRankThatNeverJoinsIsNamed: a rank that waits out --timeout for
// another says which did not join and what to check, not which store key
// was not set and Go's context error.
func TestRankThatNeverJoinsIsNamed(t *testing.T) {
	t.Parallel()
	port := freeTCPPort(t)
	c := startChildEnv(t, t.TempDir(), rankEnv(0, 2, port), tinyTrain("run", 3, "--devices", "cpu:0", "--timeout", "1s")...)
	want := regexp.MustCompile(fmt.Sprintf(`baton: rank 0 of 2: rank 1 did not join within --timeout 1s: check that it was started, as one of 2 ranks, and reaches rank 0 at 127\.0\.0\.1:%d\n$`, port))
	endsWithin(t, c, "rank 0", 20*time.Second, 1, want)
}

// TestRankStartedTwiceIsNamed: a second process started as a rank that
// one already runs as finds the rank's directory locked; it says that two
// processes may claim one rank, not only that another run uses --out.
func TestRankStartedTwiceIsNamed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	port := freeTCPPort(t)
	args := tinyTrain("run", 3, "--devices", "cpu:0", "--timeout", "20s")
	first := startChildEnv(t, dir, rankEnv(1, 2, port), args...)
	lock := filepath.Join(dir, "run", "ranks", "1", ".lock")
	for deadline := time.Now().Add(10 * time.Second); !exists(lock); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the first rank 1 made no %s; stderr:\n%s", lock, first.errText())
		}
	}
	second := startChildEnv(t, dir, rankEnv(1, 2, port), args...)
	want := regexp.MustCompile(fmt.Sprintf(`^baton: rank 1 of 2: --out run/ranks/1 is in use by process %d, which holds run/ranks/1/\.lock: another process was started as rank 1 \(the launcher's RANK, SLURM_PROCID or OMPI_COMM_WORLD_RANK`, first.cmd.Process.Pid))
	endsWithin(t, second, "the second rank 1", 10*time.Second, 1, want)
}

// TestRanksNameOneDirectoryTwoWays: on one host, ranks that spell one run
// directory two ways (relative, absolute through a link) and read the same text at two
// paths run together; two directories spelled alike (the same relative
// --out from two working directories) are refused, naming both.
func TestRanksNameOneDirectoryTwoWays(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyCorpus(t, dir, "text.txt")
	common := []string{"train", "--model", "tiny", "--devices", "cpu:0", "--steps", "2", "--timeout", "30s", "--quiet"}
	port := freeTCPPort(t)
	a := startChildEnv(t, dir, rankEnv(0, 2, port), append(common, "--data", corpus, "--out", "run")...)
	link := dir + "-link" // the same directory through a symbolic link
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(link) })
	b := startChildEnv(t, dir, rankEnv(1, 2, port), append(common, "--data", "text.txt", "--out", filepath.Join(link, "run"))...)
	for r, c := range []*child{a, b} {
		if code, killed := c.wait(t); code != 0 || killed {
			t.Fatalf("rank %d: status %d (killed: %v), want 0; stderr:\n%s", r, code, killed, c.errText())
		}
	}

	other := filepath.Join(dir, "elsewhere")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	port = freeTCPPort(t)
	a = startChildEnv(t, dir, rankEnv(0, 2, port), append(common, "--data", corpus, "--out", "again")...)
	b = startChildEnv(t, other, rankEnv(1, 2, port), append(common, "--data", corpus, "--out", "again")...)
	re := regexp.MustCompile(`rank 1 was started with --out ` + regexp.QuoteMeta(filepath.Join(other, "again")) + ` but rank 0 with ` + regexp.QuoteMeta(filepath.Join(dir, "again")) + ` on the same host`)
	endsWithin(t, a, "rank 0", 20*time.Second, 2, re)
	endsWithin(t, b, "rank 1", 20*time.Second, 2, re)
}

// TestRanksRebalanceAndResumeOnTheMove: two ranks, the second's device
// slowed 4×, re-split live; each rank records the move, the checkpoint
// keeps the split, and the ranks resumed start on it.
func TestRanksRebalanceAndResumeOnTheMove(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// runRanks runs the two ranks to their end with args after the model's.
	runRanks := func(args ...string) {
		port := freeTCPPort(t)
		ranks := make([]*child, 2)
		for r, dev := range []string{"cpu:0", "cpu:0~4"} {
			base := []string{"train", "--model", "tiny", "--layers", "8", "--devices", dev, "--data", corpus, "--out", "run", "--quiet",
				"--eval-every", "0", "--eval-batches", "1", "--microbatches", "4", "--batch", "8", "--rebalance", "auto", "--rebalance-warmup", "2"}
			ranks[r] = startChildEnv(t, dir, rankEnv(r, 2, port), append(base, args...)...)
		}
		for r, c := range ranks {
			if code, _ := c.wait(t); code != 0 {
				t.Fatalf("rank %d: status %d\n%s", r, code, c.errText())
			}
		}
	}
	type summary struct {
		Rebalances []struct{ From, To []int }
		Plan       struct {
			Stages []struct {
				FirstLayer int `json:"first_layer"`
				LastLayer  int `json:"last_layer"`
			}
		}
	}
	read := func(path string) (s summary) {
		raw, err := os.ReadFile(filepath.Join(dir, "run", path))
		if err == nil {
			err = json.Unmarshal(raw, &s)
		}
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	split := func(s summary) (out []int) {
		for _, st := range s.Plan.Stages {
			out = append(out, st.LastLayer-st.FirstLayer+1)
		}
		return out
	}
	runRanks("--steps", "6")
	lead, other := read("summary.json"), read("ranks/1/summary.json")
	if len(lead.Rebalances) != 1 || len(other.Rebalances) != 1 || fmt.Sprint(lead.Rebalances) != fmt.Sprint(other.Rebalances) {
		t.Fatalf("the ranks moved %v and %v; want the same one move", lead.Rebalances, other.Rebalances)
	}
	moved := lead.Rebalances[0].To
	if moved[1] >= lead.Rebalances[0].From[1] {
		t.Fatalf("moved %v → %v: want blocks off the slowed rank 1", lead.Rebalances[0].From, moved)
	}
	runRanks("--steps", "8", "--resume")
	if got := split(read("summary.json")); fmt.Sprint(got) != fmt.Sprint(moved) {
		t.Errorf("the ranks resumed on split %v, want the move's %v", got, moved)
	}
}

// TestRanksResumeOnTheirOwnDevices: run.json holds rank 0's devices only;
// a resume of ranks leaves each its own (here rank 1's default, cpu:0),
// rather than give every rank rank 0's.
func TestRanksResumeOnTheirOwnDevices(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	run := func(own [][]string, args ...string) {
		port := freeTCPPort(t)
		ranks := make([]*child, len(own))
		for r := range ranks {
			base := append([]string{"train", "--model", "tiny", "--layers", "4", "--data", corpus, "--out", "run", "--quiet",
				"--eval-every", "0", "--eval-batches", "1"}, own[r]...)
			ranks[r] = startChildEnv(t, dir, rankEnv(r, len(own), port), append(base, args...)...)
		}
		for r, c := range ranks {
			if code, _ := c.wait(t); code != 0 {
				t.Fatalf("rank %d: status %d\n%s", r, code, c.errText())
			}
		}
	}
	run([][]string{{"--devices", "cpu:0,cpu:1"}, {"--devices", "cpu:2"}}, "--steps", "2")
	run([][]string{{"--devices", "cpu:0,cpu:1"}, nil}, "--steps", "3", "--resume")
	var sum struct{ Devices []string }
	readJSON(t, filepath.Join(dir, "run", "summary.json"), &sum)
	if want := "[rank0/cpu:0 rank0/cpu:1 rank1/cpu:0]"; fmt.Sprint(sum.Devices) != want {
		t.Errorf("the resumed ranks ran on %v, want %s: rank 1 on its own default device, not rank 0's", sum.Devices, want)
	}
	// In one process, run.json's devices are rank 0's alone: said.
	r := baton(t, dir, "train", "--model", "tiny", "--layers", "4", "--data", corpus, "--out", "run", "--quiet", "--eval-every", "0", "--eval-batches", "1", "--steps", "4", "--resume")
	if want := "the run last ran as 2 ranks; resuming in one process on run.json's --devices cpu:0,cpu:1, rank 0's alone"; r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("a resume in one process: exit %d; want 0 and %q:\n%s", r.code, want, r.stderr)
	}
}

// TestRanksSplitResumesInOneProcess: a run of 2 ranks of 2 devices each
// with --split 1,1,1,1 resumes in one process: on rank 0's 2 devices (the
// split, for 4, is left out, saying so) or on 4 named, keeping the split.
func TestRanksSplitResumesInOneProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	flags := func(out string) []string {
		return []string{"train", "--model", "tiny", "--layers", "4", "--data", corpus, "--out", out, "--quiet", "--eval-every", "0", "--eval-batches", "1"}
	}
	for _, out := range []string{"a", "b"} {
		port := freeTCPPort(t)
		args := append(flags(out), "--devices", "cpu:0,cpu:1", "--split", "1,1,1,1", "--steps", "2")
		ranks := []*child{startChildEnv(t, dir, rankEnv(0, 2, port), args...), startChildEnv(t, dir, rankEnv(1, 2, port), args...)}
		for r, c := range ranks {
			if code, _ := c.wait(t); code != 0 {
				t.Fatalf("%s, rank %d: status %d\n%s", out, r, code, c.errText())
			}
		}
	}
	r := baton(t, dir, append(flags("a"), "--resume", "--steps", "3")...)
	if want := "resuming on 2 devices, not the run's 4: its --split 1,1,1,1 is not used"; r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("resumed on rank 0's devices: exit %d; want 0 and %q:\n%s", r.code, want, r.stderr)
	}
	r = baton(t, dir, append(flags("b"), "--resume", "--steps", "3", "--devices", "cpu:0..3")...)
	var rec struct {
		Plan struct {
			Stages []struct{ Device string } `json:"stages"`
		} `json:"plan"`
		Config struct {
			Split []int `json:"split"`
		} `json:"config"`
	}
	readJSON(t, filepath.Join(dir, "b", "run.json"), &rec)
	if r.code != 0 || strings.Contains(r.stderr, "is not used") || !slices.Equal(rec.Config.Split, []int{1, 1, 1, 1}) || len(rec.Plan.Stages) != 4 {
		t.Errorf("resumed on 4 devices: exit %d, split %v over %d stages; want 0 and the split kept:\n%s", r.code, rec.Config.Split, len(rec.Plan.Stages), r.stderr)
	}
}

// TestRanksSplitResumesOnOtherRanks: a run of 2 ranks with --split 3,1
// resumes as 3 ranks, splitting anew and saying so, as a resume in one
// process on another count of devices does; as 2 ranks again it keeps the
// split.
func TestRanksSplitResumesOnOtherRanks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	args := []string{"train", "--model", "tiny", "--layers", "4", "--data", corpus, "--out", "run", "--quiet", "--eval-every", "0", "--eval-batches", "1"}
	start := func(world int, extra ...string) []string {
		t.Helper()
		port := freeTCPPort(t)
		var ranks []*child
		for r := range world {
			ranks = append(ranks, startChildEnv(t, dir, rankEnv(r, world, port), append(slices.Clone(args), extra...)...))
		}
		var stderr []string
		for r, c := range ranks {
			if code, _ := c.wait(t); code != 0 {
				t.Fatalf("%d ranks %v, rank %d: status %d\n%s", world, extra, r, code, c.errText())
			}
			stderr = append(stderr, c.errText())
		}
		return stderr
	}
	start(2, "--split", "3,1", "--steps", "2")
	for r, text := range start(3, "--resume", "--steps", "3") {
		if want := "resuming on 3 devices, not the run's 2: its --split 3,1 is not used"; !strings.Contains(text, want) {
			t.Errorf("resumed as 3 ranks, rank %d does not say %q:\n%s", r, want, text)
		}
	}
	var sum struct {
		Steps      int `json:"steps"`
		NumDevices int `json:"num_devices"`
	}
	readJSON(t, filepath.Join(dir, "run", "summary.json"), &sum)
	if sum.Steps != 3 || sum.NumDevices != 3 {
		t.Errorf("resumed as 3 ranks: %d steps on %d devices, want 3 on 3", sum.Steps, sum.NumDevices)
	}
}

// TestRankWithoutOutIsRefused: a rank needs --out, the run directory
// every rank names alike, --config or not (a configuration file gives
// none), rather than runs/<its own clock's time>.
func TestRankWithoutOutIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile("c.toml", []byte("steps = 2\n"))(t, dir)
	for _, extra := range [][]string{nil, {"--config", "c.toml"}} {
		c := startChildEnv(t, dir, rankEnv(0, 2, freeTCPPort(t)), append([]string{"train", "--model", "tiny", "--data", corpus}, extra...)...)
		code, _ := c.wait(t)
		if want := "baton: a run of 2 processes (torchrun) needs --out"; code != 2 || !strings.Contains(c.errText(), want) {
			t.Errorf("a rank with %v and no --out: status %d; want 2 and %q:\n%s", extra, code, want, c.errText())
		}
	}
}
