//go:build unix

// Interrupts: SIGINT, SIGTERM and SIGHUP finish the step, save a checkpoint that resumes, and exit 130, 143 or 129; a second signal exits at once.
package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lineLimit is how long a test waits for a line it expects: far more than
// the run needs, so that only a hung run reaches it.
const lineLimit = time.Minute

func TestSIGINTSavesAndResumes(t *testing.T)  { testInterrupt(t, syscall.SIGINT, 130) }
func TestSIGTERMSavesAndResumes(t *testing.T) { testInterrupt(t, syscall.SIGTERM, 143) }
func TestSIGHUPSavesAndResumes(t *testing.T)  { testInterrupt(t, syscall.SIGHUP, 129) }

func testInterrupt(t *testing.T, sig syscall.Signal, want int) {
	t.Parallel()
	dir := t.TempDir()
	// 1000 steps log a line every 100; the signal comes after the second,
	// with 800 steps still to go, so it lands in the middle of the run.
	c := startChild(t, dir, tinyTrain("run", 1000, "--save-every", "0", "--eval-every", "0")...)
	c.waitLine(t, regexp.MustCompile(`msg=train step=200 `), lineLimit)
	c.signal(t, sig)
	code, killed := c.wait(t)
	stderr := c.errText()
	if killed || code != want {
		t.Fatalf("after %v: exit status %d (killed by a signal: %v), want %d; stderr:\n%s", sig, code, killed, want, stderr)
	}
	m := regexp.MustCompile(`baton: interrupted by ` + regexp.QuoteMeta(sigName(sig)) +
		` at step (\d+); checkpoint saved in (\S+) \(continue with --resume --out run\)`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("stderr does not say where the checkpoint is:\n%s", stderr)
	}
	step, _ := strconv.Atoi(m[1])
	if step < 200 || step >= 1000 {
		t.Errorf("interrupted at step %d; the signal came after step 200 of 1000", step)
	}
	if m[2] != "run/checkpoint" {
		t.Errorf("checkpoint reported in %s, want run/checkpoint", m[2])
	}
	ckDir := filepath.Join(dir, "run", "checkpoint")
	got, ck := loadStep(t, ckDir)
	if got != step {
		t.Errorf("the checkpoint's state.json has step %d; stderr reported step %d", got, step)
	}
	if ck.RecoveredFrom != "" || exists(ckDir+".tmp") || exists(ckDir+".old") {
		t.Errorf("a clean interrupt left an incomplete save behind (recovered from %q)", ck.RecoveredFrom)
	}
	if s := readSummary(t, dir); !s.Interrupted || s.Steps != step {
		t.Errorf("summary.json says interrupted %v at step %d, want true at %d", s.Interrupted, s.Steps, step)
	}

	r := baton(t, dir, tinyTrain("run", step+10, "--save-every", "0", "--eval-every", "0", "--quiet", "--resume")...)
	if r.code != 0 {
		t.Fatalf("resume: exit status %d; stderr:\n%s", r.code, r.stderr)
	}
	if got, _ := loadStep(t, ckDir); got != step+10 {
		t.Errorf("after resuming to --steps %d the checkpoint is at step %d", step+10, got)
	}
	if s := readSummary(t, dir); s.StartStep != step || s.Steps != step+10 || s.Interrupted {
		t.Errorf("resumed summary: start_step %d, steps %d, interrupted %v; want %d, %d, false", s.StartStep, s.Steps, s.Interrupted, step, step+10)
	}
}

type summary struct {
	Steps       int  `json:"steps"`
	StartStep   int  `json:"start_step"`
	Interrupted bool `json:"interrupted"`
}

func readSummary(t *testing.T, dir string) summary {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "run", "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// signalTwice trains 10 steps in dir, saving every saveEvery, and sends
// SIGINT after step 2 and again during step 3. A large batch makes a step
// take about a second here, so both signals arrive within one step: the
// first cannot finish the run before the second is sent. Waiting for the
// first signal's warning keeps the kernel from merging the two into one,
// and past sameStop keeps baton from taking them for one stop. It returns
// how the run ended.
func signalTwice(t *testing.T, dir, saveEvery string) (code int, killed bool, c *child) {
	t.Helper()
	c = startChild(t, dir, tinyTrain("run", 10, "--batch", "8192", "--save-every", saveEvery, "--eval-every", "0")...)
	c.waitLine(t, regexp.MustCompile(`msg=train step=2 `), lineLimit)
	c.signal(t, syscall.SIGINT)
	c.waitLine(t, regexp.MustCompile(`signal: finishing the current step`), lineLimit)
	time.Sleep(sameStop + 50*time.Millisecond)
	c.signal(t, syscall.SIGINT)
	code, killed = c.wait(t)
	return code, killed, c
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// 10 steps log every one; a checkpoint every 2.
	code, killed, c := signalTwice(t, dir, "2")
	stderr := c.errText()
	if killed || code != 130 {
		t.Fatalf("after two SIGINTs: exit status %d (killed by a signal: %v), want 130; stderr:\n%s", code, killed, stderr)
	}
	if !strings.Contains(stderr, "second signal, exiting now; the last complete checkpoint, in run/checkpoint, is intact (continue with --resume --out run)") {
		t.Errorf("stderr does not say the second signal ended the run, and where its checkpoint is:\n%s", stderr)
	}
	if strings.Contains(stderr, "checkpoint saved in") {
		t.Errorf("the run finished its step and saved before the second signal; it should have exited at once:\n%s", stderr)
	}
	// Step 2 was logged after its checkpoint; step 3 was in flight.
	step, _ := loadStep(t, filepath.Join(dir, "run", "checkpoint"))
	if step != 2 && step != 3 {
		t.Errorf("the last complete checkpoint is at step %d, want 2 (or 3, if its save completed before the exit)", step)
	}
}

// TestSignalsAtOnceAreOneStop: timeout(1) signals the run and then its
// whole process group, so the run may get two SIGINTs at once (the kernel
// merges them as often as not, so a run of baton cannot show this
// reliably); they are one stop, which saves, not a second signal that
// exits before the step ends. One sameStop later, a signal is a second,
// whose number the exit status takes.
func TestSignalsAtOnceAreOneStop(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	done := make(chan struct{})
	var second os.Signal
	go func() {
		second = awaitSecond(sigs, time.Now())
		close(done)
	}()
	sigs <- syscall.SIGINT
	select {
	case <-done:
		t.Fatal("a signal right after the first was taken for a second one")
	case <-time.After(sameStop + 100*time.Millisecond):
	}
	sigs <- syscall.SIGTERM
	select {
	case <-done:
		if second != syscall.SIGTERM {
			t.Errorf("the second signal was taken to be %v, want SIGTERM", second)
		}
	case <-time.After(lineLimit):
		t.Fatal("a signal sameStop after the first was not taken for a second one")
	}
}

// TestTwoSignalsAtOnceAreOneStop: a run signalled twice at once (SIGINT
// and SIGTERM, which the kernel does not merge as it merges two SIGINTs)
// stops once, saving, as TestSignalsAtOnceAreOneStop says it must.
func TestTwoSignalsAtOnceAreOneStop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := startChild(t, dir, tinyTrain("run", 1000, "--save-every", "0", "--eval-every", "0")...)
	c.waitLine(t, regexp.MustCompile(`msg=train step=100 `), lineLimit)
	c.signal(t, syscall.SIGINT)
	c.signal(t, syscall.SIGTERM)
	code, killed := c.wait(t)
	stderr := c.errText()
	if killed || code != 130 || strings.Contains(stderr, "second signal") || !strings.Contains(stderr, "checkpoint saved in run/checkpoint") {
		t.Fatalf("after SIGINT and SIGTERM at once: exit status %d (killed: %v); want 130, the checkpoint saved, and no second signal; stderr:\n%s", code, killed, stderr)
	}
}

// TestSecondSignalBeforeACheckpoint: a run that exits at once before its
// first checkpoint says that nothing can be resumed.
func TestSecondSignalBeforeACheckpoint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, _, c := signalTwice(t, dir, "0")
	if stderr := c.errText(); code != 130 || !strings.Contains(stderr, "second signal, exiting now; no checkpoint was saved yet") {
		t.Errorf("exit status %d; want 130 and a line saying no checkpoint was saved; stderr:\n%s", code, stderr)
	}
}
