// baton bench with a TMPDIR it cannot use: refused before the sweep, naming TMPDIR.

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestBenchUnusableTMPDIR(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tmp := filepath.Join(dir, "no", "such")
	cmd := exec.Command(batonBin, "bench", "--quick", "--steps=1", "--devices-max=1", "--schedules=naive", "--data", corpus, "--out", "bt")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "TMPDIR="+tmp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	want := "baton: TMPDIR=" + tmp + ": cannot make the sweep's temporary run directories there: no such file or directory; unset TMPDIR or point it at a writable directory\n"
	if code := cmd.ProcessState.ExitCode(); code != 2 || stderr.String() != want {
		t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), want)
	}
	if strings.Contains(stdout.String(), "points") {
		t.Errorf("the sweep began: %q", stdout.String())
	}
}
