//go:build unix

// baton launch: each rank's environment and prefixed lines, a failure stopping the others within the grace, signals passed on once, and the usage errors.
package main

import (
	"baton/internal/runlock"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// launchLimit bounds a wait on launch's output: far more than a probe needs.
const launchLimit = 30 * time.Second

var readyLine = regexp.MustCompile(`^\[rank (\d+)\] ready pid=(\d+)$`)

// waitReady reads launch's stderr until n ranks said they are ready, and
// returns each rank's pid.
func waitReady(t *testing.T, c *child, n int) map[int]int {
	t.Helper()
	pids := map[int]int{}
	for len(pids) < n {
		m := c.waitLine(t, readyLine, launchLimit)
		rank, _ := strconv.Atoi(m[1])
		pids[rank], _ = strconv.Atoi(m[2])
	}
	return pids
}

func TestLaunchRanks(t *testing.T) {
	t.Parallel()
	r := baton(t, t.TempDir(), "launch", "--nproc-per-node", "3", "--", "launch-probe")
	if r.code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", r.code, r.stderr)
	}
	port := regexp.MustCompile(`master=127\.0\.0\.1:(\d+) `).FindStringSubmatch(r.stdout)
	if port == nil || port[1] == "0" {
		t.Fatalf("no port in stdout:\n%s", r.stdout)
	}
	long := ""
	for i := range 4 {
		long += fmt.Sprintf("piece%d-%s", i, strings.Repeat("x", 2000))
	}
	for rank := range 3 {
		for _, want := range []string{
			fmt.Sprintf("[rank %d] rank=%d world=3 local=%d/3 master=127.0.0.1:%s source=torchrun\n", rank, rank, rank, port[1]),
			fmt.Sprintf("[rank %d] %s\n", rank, long),     // written in pieces, printed whole
			fmt.Sprintf("[rank %d] unterminated\n", rank), // the last line, with no newline
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout lacks %.80q; stdout:\n%.2000s", want, r.stdout)
			}
		}
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^\[rank %d\] ready pid=\d+$`, rank)).MatchString(r.stderr) {
			t.Errorf("stderr lacks rank %d's line:\n%s", rank, r.stderr)
		}
	}
	for _, out := range []string{r.stdout, r.stderr} {
		for line := range strings.Lines(out) {
			if !regexp.MustCompile(`^\[rank [0-2]\] `).MatchString(line) {
				t.Errorf("a line with no rank prefix: %.80q", line)
			}
		}
	}
}

func TestLaunchNodes(t *testing.T) {
	t.Parallel()
	r := baton(t, t.TempDir(), "launch", "--nproc-per-node", "2", "--nnodes", "3", "--node-rank", "1", "--master", "host0.example:1234", "--", "launch-probe")
	if r.code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"[rank 2] rank=2 world=6 local=0/2 master=host0.example:1234 source=torchrun\n",
		"[rank 3] rank=3 world=6 local=1/2 master=host0.example:1234 source=torchrun\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q; stdout:\n%.1000s", want, r.stdout)
		}
	}
}

// A rank that fails stops the others at once: SIGTERM ends them well
// within the default grace of 10 s, and launch exits with the failure's
// status.
func TestLaunchFailureStopsOthers(t *testing.T) {
	t.Parallel()
	began := time.Now()
	r := baton(t, t.TempDir(), "launch", "--nproc-per-node", "3", "--", "launch-probe", "--fail-rank", "1", "--fail-code", "3", "--hang")
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("launch took %v: the other ranks were not stopped", took)
	}
	if r.code != 3 {
		t.Errorf("exit status %d, want 3 (rank 1's)", r.code)
	}
	if !strings.HasSuffix(r.stderr, "baton: rank 1 exited with status 3\n") {
		t.Errorf("stderr does not end naming rank 1 and its status:\n%s", r.stderr)
	}
}

// TestLaunchNamesTheRankThatFailed: a rank that only lost another (exit
// status 3) is not named as the failure, though it was reaped first: the
// rank that failed on its own is, with its status.
func TestLaunchNamesTheRankThatFailed(t *testing.T) {
	t.Parallel()
	r := baton(t, t.TempDir(), "launch", "--nproc-per-node", "3", "--grace", "1s", "--", "launch-probe", "--lost-rank", "0", "--fail-rank", "2", "--fail-code", "1", "--hang", "--ignore-term")
	if last := "baton: rank 2 exited with status 1; killed rank 1"; r.code != 1 || !strings.Contains(r.stderr, last) {
		t.Errorf("exit status %d, want 1 and a last line starting %q:\n%s", r.code, last, r.stderr)
	}
}

// TestLaunchNamesTheRankThatHung: where the rank reaped only lost another
// (status 3) and no rank failed on its own, the rank that does not end
// even when told to is named as the one that hung.
func TestLaunchNamesTheRankThatHung(t *testing.T) {
	t.Parallel()
	r := baton(t, t.TempDir(), "launch", "--nproc-per-node", "2", "--grace", "500ms", "--", "launch-probe", "--lost-rank", "0", "--hang", "--ignore-term")
	if want := "baton: rank 1 hung: still running --grace 500ms after rank 0 exited with status 3 (it lost a rank) and the others were told to stop; killed\n"; r.code != 3 || !strings.HasSuffix(r.stderr, want) {
		t.Errorf("exit status %d, want 3 and a last line %q:\n%s", r.code, want, r.stderr)
	}
}

// Ranks that ignore SIGTERM are killed after --grace; a rank killed by a
// signal is reported with 128+signal.
func TestLaunchKillsAfterGrace(t *testing.T) {
	t.Parallel()
	c := startChild(t, t.TempDir(), "launch", "--nproc-per-node", "3", "--grace", "500ms", "--", "launch-probe", "--hang", "--ignore-term")
	pids := waitReady(t, c, 3)
	began := time.Now()
	if err := syscall.Kill(pids[1], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	code, killed := c.wait(t)
	took := time.Since(began)
	if killed || code != 137 {
		t.Errorf("exit status %d (killed: %v), want 137 (rank 1's, killed by SIGKILL)", code, killed)
	}
	if took < 500*time.Millisecond || took > 5*time.Second {
		t.Errorf("launch ended %v after rank 1 died, want just over --grace 500ms", took)
	}
	want := "baton: rank 1 was killed by signal 9 (killed), status 137; killed rank 0, 2, still running --grace 500ms after being told to stop\n"
	if !strings.HasSuffix(c.errText(), want) {
		t.Errorf("stderr does not end with %q:\n%s", want, c.errText())
	}
	if strings.Contains(c.errText(), "got ") {
		t.Errorf("a rank saw a signal it ignores:\n%s", c.errText())
	}
}

// SIGINT to launch reaches every rank once, and each rank is in a process
// group of its own, out of the reach of a terminal's Ctrl-C, which would
// make it twice.
func TestLaunchForwardsSignals(t *testing.T) {
	t.Parallel()
	c := startChild(t, t.TempDir(), "launch", "--nproc-per-node", "2", "--", "launch-probe", "--hang")
	pids := waitReady(t, c, 2)
	launchGroup, err := syscall.Getpgid(c.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	for rank, pid := range pids {
		if g, err := syscall.Getpgid(pid); err != nil || g != pid || g == launchGroup {
			t.Errorf("rank %d (pid %d) is in process group %d (%v), want its own; launch's is %d", rank, pid, g, err, launchGroup)
		}
	}
	c.signal(t, syscall.SIGINT)
	code, killed := c.wait(t)
	if killed || code != 130 {
		t.Errorf("exit status %d (killed: %v), want 130", code, killed)
	}
	stderr := c.errText()
	for rank := range 2 {
		if n := strings.Count(stderr, fmt.Sprintf("[rank %d] got interrupt\n", rank)); n != 1 {
			t.Errorf("rank %d got SIGINT %d times, want once; stderr:\n%s", rank, n, stderr)
		}
	}
	if !regexp.MustCompile(`baton: interrupted by SIGINT: the ranks stopped together \(rank [01] exited first, status 130\); each says above what it saved\n$`).MatchString(stderr) {
		t.Errorf("stderr does not end saying the ranks stopped together, status 130:\n%s", stderr)
	}
}

// A rank that cannot stop (SIGSTOP) after launch was interrupted is killed
// --grace after another rank ended, rather than keep launch waiting forever.
func TestLaunchKillsAStoppedRankAfterInterrupt(t *testing.T) {
	t.Parallel()
	c := startChild(t, t.TempDir(), "launch", "--nproc-per-node", "2", "--grace", "500ms", "--", "launch-probe", "--hang")
	pids := waitReady(t, c, 2)
	if err := syscall.Kill(pids[1], syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	c.signal(t, syscall.SIGINT)
	code, killed := c.wait(t)
	if took := time.Since(began); killed || took > 10*time.Second {
		t.Fatalf("launch ended %v after SIGINT (killed by the test: %v), want just over --grace 500ms", took, killed)
	}
	if code != 130 {
		t.Errorf("exit status %d, want 130 (rank 0's, interrupted)", code)
	}
	if want := "killed rank 1, still running --grace 500ms after being told to stop\n"; !strings.HasSuffix(c.errText(), want) {
		t.Errorf("stderr does not end with %q:\n%s", want, c.errText())
	}
}

// TestLaunchRankKilledTheOthersSayWhy: where launch stops the other ranks
// of a training run after one was killed, each still ends with its one line
// naming the rank lost, even where launch's SIGTERM reaches it while it
// closes its links, after its run has failed.
func TestLaunchRankKilledTheOthersSayWhy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := startChild(t, dir, "launch", "--nproc-per-node", "3", "--", "train", "--model", "tiny", "--layers", "3", "--devices", "cpu:0",
		"--data", corpus, "--steps", "100000", "--save-every", "5", "--eval-every", "0", "--eval-batches", "1", "--out", "run", "--timeout", "20s", "--quiet")
	waitCheckpoint(t, filepath.Join(dir, "run"), 5)
	lock, err := os.ReadFile(filepath.Join(dir, "run", "ranks", "1", runlock.Name)) // rank 1's pid
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(lock)))
	if err != nil {
		t.Fatalf("rank 1's lock file holds %q, not a pid", lock)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Launch names the cause, rank 1, though it may reap a survivor first.
	if code, killed := c.wait(t); killed || code != 137 || !strings.HasSuffix(c.errText(), "baton: rank 1 was killed by signal 9 (killed), status 137\n") {
		t.Errorf("launch: exit status %d (killed: %v), want 137 and a last line naming rank 1, killed by SIGKILL:\n%s", code, killed, c.errText())
	}
	for _, r := range []int{0, 2} {
		if want := regexp.MustCompile(fmt.Sprintf(`\[rank %d\] baton: .*rank 1 \(127\.0\.0\.1\)`, r)); !want.MatchString(c.errText()) {
			t.Errorf("rank %d did not say it lost rank 1 (%q):\n%s", r, want, c.errText())
		}
	}
}

// TestPortInUseNamesWhereItCameFrom: rank 0 that cannot serve the
// rendezvous says so once, as rank 0 of the world, naming what gave the
// port: launch's --master, or MASTER_PORT for a rank started by hand.
func TestPortInUseNamesWhereItCameFrom(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	train := []string{"train", "--model", "tiny", "--devices", "cpu:0", "--data", corpus, "--steps", "3", "--out", "run", "--timeout", "20s", "--quiet"}
	r := baton(t, dir, append([]string{"launch", "--nproc-per-node", "2", "--master", fmt.Sprint("127.0.0.1:", port), "--"}, train...)...)
	want := fmt.Sprintf("[rank 0] baton: rank 0 of 2: serving the rendezvous at port %d (baton launch's --master, or the free port it picked): ", port)
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("launch: exit status %d, want 1 and %q:\n%s", r.code, want, r.stderr)
	}
	c := startChildEnv(t, dir, rankEnv(0, 2, port), train...)
	endsWithin(t, c, "rank 0", 20*time.Second, 1, regexp.MustCompile(fmt.Sprintf(`^baton: rank 0 of 2: serving the rendezvous at port %d \(MASTER_PORT\): `, port)))
}

func TestLaunchRedirects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := baton(t, dir, "launch", "--nproc-per-node", "2", "--redirects", "logs", "--", "launch-probe", "--fail-rank", "1", "--fail-code", "4")
	if r.code != 4 {
		t.Errorf("exit status %d, want 4", r.code)
	}
	if r.stdout != "" {
		t.Errorf("ranks wrote to launch's stdout:\n%s", r.stdout)
	}
	if want := "baton: rank 1 exited with status 4 (its output: logs/rank1.stderr)\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	out, err := os.ReadFile(filepath.Join(dir, "logs", "rank1.stdout"))
	if err != nil || !bytes.HasPrefix(out, []byte("rank=1 world=2 local=1/2 ")) {
		t.Errorf("logs/rank1.stdout: %v, %.80q", err, out)
	}
	errs, err := os.ReadFile(filepath.Join(dir, "logs", "rank1.stderr"))
	if err != nil || !regexp.MustCompile(`^ready pid=\d+\n$`).Match(errs) {
		t.Errorf("logs/rank1.stderr: %v, %q", err, errs)
	}
}

func TestLaunchUsageErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--nproc-per-node", "2"}, "nothing to run: give a baton command after --, e.g. baton launch --nproc-per-node 2 -- train"},
		{[]string{"--nproc-per-node", "2", "--"}, "nothing to run: give a baton command after --"},
		{[]string{"--nproc-per-node", "0", "--", "train"}, "--nproc-per-node 0: want 1 or more ranks on this host"},
		{[]string{"--nproc-per-node", "100000", "--", "train"}, "--nproc-per-node 100000: more ranks than this host runs"},
		{[]string{"--nnodes", "0", "--", "train"}, "--nnodes 0: want 1 or more hosts"},
		{[]string{"--nnodes", "2", "--node-rank", "2", "--master", "h:1", "--", "train"}, "--node-rank 2 is not in 0..1 (--nnodes 2)"},
		{[]string{"--node-rank", "-1", "--", "train"}, "--node-rank -1 is not in 0..0 (--nnodes 1)"},
		{[]string{"--nnodes", "2", "--", "train"}, "--nnodes 2 needs --master HOST:PORT: where rank 0 (on --node-rank 0) listens, the same on every host"},
		{[]string{"--master", "host0", "--", "train"}, `--master "host0": want HOST:PORT, e.g. host0:29500`},
		{[]string{"--master", ":29500", "--", "train"}, `--master ":29500": want HOST:PORT, e.g. host0:29500`},
		{[]string{"--master", "host0:abc", "--", "train"}, `--master "host0:abc": port "abc" is not a port (1-65535)`},
		{[]string{"--master", "host0:70000", "--", "train"}, `--master "host0:70000": port "70000" is not a port (1-65535)`},
		{[]string{"--grace", "-1s", "--", "train"}, "--grace -1s: want 0 or more"},
		{[]string{"--nproc-per-node", "two", "--", "train"}, `invalid argument "two" for "--nproc-per-node"`},
		{[]string{"--nproc-per-node", "2", "--", "plan"}, `launch runs train as ranks; "plan" runs in one process: drop launch and run baton plan`},
	} {
		r := baton(t, t.TempDir(), append([]string{"launch"}, c.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("baton launch %s: exit status %d, stderr %q; want 2 and %q", strings.Join(c.args, " "), r.code, r.stderr, c.want)
		}
	}
}

// Lines that two ranks write in pieces come out whole, each after its
// rank's prefix; a line never ended comes out ended when the rank does,
// and one longer than maxLine is cut after the write that passed it.
func TestLaunchPrefixedLines(t *testing.T) {
	var buf bytes.Buffer
	out := &lines{w: &buf}
	a, b := newPrefixed(out, "[rank 0] "), newPrefixed(out, "[rank 1] ")
	a.Write([]byte("one "))
	b.Write([]byte("uno\ndos "))
	a.Write([]byte("two\nthree\nfo"))
	b.Write([]byte("tres\n"))
	a.Write([]byte("ur"))
	a.flush()
	b.flush()
	want := "[rank 1] uno\n[rank 0] one two\n[rank 0] three\n[rank 1] dos tres\n[rank 0] four\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
	buf.Reset()
	a.Write(bytes.Repeat([]byte("y"), maxLine-1))
	if buf.Len() != 0 {
		t.Errorf("a partial line shorter than maxLine came out")
	}
	a.Write([]byte("yy"))
	a.Write([]byte("z"))
	a.flush()
	if want := "[rank 0] " + strings.Repeat("y", maxLine+1) + "\n[rank 0] z\n"; buf.String() != want {
		t.Errorf("a line past maxLine came out as %d bytes in %d lines, want it cut after the write that passed maxLine", buf.Len(), strings.Count(buf.String(), "\n"))
	}
}

// sleepers are n processes that stand in for ranks supervise watches
// (their exits are the test's to send), killed when the test ends.
func sleepers(t *testing.T, n int) []*os.Process {
	var procs []*os.Process
	for range n {
		c := exec.Command("sleep", "30")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		procs = append(procs, c.Process)
	}
	return procs
}

// TestSuperviseNamesARankThatFailedAfterAnInterrupt: after launch passed
// on SIGINT, the rank that stopped on it (130) exits first and another
// fails (1): launch names the one that failed, with its status.
func TestSuperviseNamesARankThatFailedAfterAnInterrupt(t *testing.T) {
	procs := sleepers(t, 2)
	exits, sigs := make(chan rankExit, 2), make(chan os.Signal, 1)
	sigs <- syscall.SIGINT
	go func() {
		time.Sleep(100 * time.Millisecond) // after supervise passed the signal on
		exits <- rankExit{local: 0, rank: 0, code: 130}
		exits <- rankExit{local: 1, rank: 1, code: 1}
	}()
	err := supervise(procs, 0, exits, sigs, time.Minute, "")
	var ie interrupted
	if !errors.As(err, &ie) || ie.code != 1 || ie.msg != "rank 1 exited with status 1, after SIGINT" {
		t.Errorf("supervise = %v; want rank 1 named, status 1", err)
	}
}

// TestSuperviseTakesASignalDeliveredTwiceForOne: timeout(1) delivers its
// SIGTERM to launch twice, microseconds apart: one stop, which leaves the
// ranks all the time they take to save, not --grace.
func TestSuperviseTakesASignalDeliveredTwiceForOne(t *testing.T) {
	procs := sleepers(t, 2)
	exits, sigs := make(chan rankExit, 2), make(chan os.Signal, 2)
	sigs <- syscall.SIGTERM
	sigs <- syscall.SIGTERM
	go func() {
		time.Sleep(1500 * time.Millisecond) // saving, past --grace
		exits <- rankExit{local: 0, rank: 0, code: 143}
		exits <- rankExit{local: 1, rank: 1, code: 143}
	}()
	err := supervise(procs, 0, exits, sigs, time.Second, "")
	want := "interrupted by SIGTERM: the ranks stopped together (rank 0 exited first, status 143); each says above what it saved"
	if ie := (interrupted{}); !errors.As(err, &ie) || ie.code != 143 || ie.msg != want {
		t.Errorf("supervise = %v; want %q, status 143, no rank killed", err, want)
	}
}

// TestSuperviseSendsAnInterruptedRunToItsRedirects: with --redirects the
// ranks' lines are in their files, not above launch's last line, which
// says so.
func TestSuperviseSendsAnInterruptedRunToItsRedirects(t *testing.T) {
	procs := sleepers(t, 1)
	exits, sigs := make(chan rankExit, 1), make(chan os.Signal, 1)
	sigs <- syscall.SIGTERM
	go func() {
		time.Sleep(100 * time.Millisecond) // after supervise passed the signal on
		exits <- rankExit{local: 0, rank: 0, code: 143}
	}()
	err := supervise(procs, 0, exits, sigs, time.Minute, "rd")
	want := "interrupted by SIGTERM: the ranks stopped together (rank 0 exited first, status 143); each says in " + filepath.Join("rd", "rankR.stderr") + " what it saved"
	if ie := (interrupted{}); !errors.As(err, &ie) || ie.code != 143 || ie.msg != want {
		t.Errorf("supervise = %v; want %q, status 143", err, want)
	}
}
