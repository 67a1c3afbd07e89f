// A run that cannot fit the memory the process may have is refused before it allocates, with both figures.

package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestRunThatCannotFitIsRefused: under an address-space limit of 6 or 3
// GiB (ulimit -v, as prlimit --as sets it), gpt2-124m with 8 sequences of
// 1024 tokens, about 8 GiB planned, is refused at once, exit 2, saying how
// much it needs, how much there is and what can lower it enough; nothing
// is written.
func TestRunThatCannotFitIsRefused(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to set the limit with")
	}
	for _, c := range []struct {
		limitKiB int
		limit    string
		fix      string
	}{
		// Room for the parameters and their state (1.85 GiB), not for B=8's activations.
		{6 << 20, "6.00 GiB", "lower --batch or raise --microbatches (micro-batches of 8 sequences), lower --context, recompute in the backward (--recompute block), or choose a smaller model"},
		// Not even for those: only a smaller model fits.
		{3 << 20, "3.00 GiB", "the parameters with their gradients and AdamW state alone take 1.85 GiB: choose a smaller model"},
	} {
		dir := t.TempDir()
		script := fmt.Sprintf(`ulimit -v %d && exec "$0" "$@"`, c.limitKiB)
		cmd := exec.Command(bash, "-c", script, batonBin, "train", "--model=gpt2-124m", "--devices=cpu:0", "--batch=8",
			"--microbatches=1", "--steps=1", "--out=run")
		cmd.Dir = dir
		before := snapshot(t, dir)
		out, _ := cmd.CombinedOutput()
		need := regexp.MustCompile(`baton: the run needs about [0-9.]+ GiB of memory .*, [0-9.]+ GiB of address space, but [0-9.]+ [MG]iB is left under the address-space limit, RLIMIT_AS \(ulimit -v\), of ` +
			regexp.QuoteMeta(c.limit) + `, of which the process holds [0-9.]+ [MG]iB; ` + regexp.QuoteMeta(c.fix) + `\n$`)
		if code := cmd.ProcessState.ExitCode(); code != 2 || !need.Match(out) {
			t.Fatalf("limit %s: exit %d, want 2 with the memory needed and available, and %q:\n%s", c.limit, code, c.fix, out)
		}
		if ch := changes(before, snapshot(t, dir)); len(ch) > 0 {
			t.Errorf("a refused run wrote %s", strings.Join(ch, ", "))
		}
	}
}

// TestAddressSpaceLimitIsNotResidentMemory: an address-space limit above
// the plan's bytes but below what a Go process reserves to allocate them
// (2.38 GiB for gpt2-124m's 2 layers at context 64, 1.2 GiB planned; the
// process holds 1.2 to 1.5 GiB at the check, built without cgo or with it)
// is refused with the one line, not let through to a Go runtime's "fatal
// error: out of memory" and its goroutine dump. (Near 1 GiB the process
// cannot always start its threads: not baton's to say.)
func TestAddressSpaceLimitIsNotResidentMemory(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to set the limit with")
	}
	script := `ulimit -v 2500000 && exec "$0" "$@"`
	cmd := exec.Command(bash, "-c", script, batonBin, "train", "--model=gpt2-124m", "--layers=2", "--context=64", "--batch=4",
		"--devices=cpu:0", "--steps=1", "--out=run")
	cmd.Dir = t.TempDir()
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 2 || strings.Count(string(out), "\n") != 1 || !strings.Contains(string(out), "of address space, but") {
		t.Fatalf("exit %d, want 2 and one line saying the address space is short:\n%s", code, out)
	}
}
