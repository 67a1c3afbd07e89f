// The command line at the top of bench's report, as a shell reads it back.

package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBenchCommandReadsBack: a bool flag given false prints as
// --name=false, not as --name, which sets it; values with spaces, quotes or
// a shell's special characters print quoted, so that the shell gives the
// sweep back each value as it was given.
func TestBenchCommandReadsBack(t *testing.T) {
	args := []string{"--quick=false", "--data", "my corpus.txt", "--out", "it's $HOME", "--devices", "cuda:0/[48,28]", "--tag", "a-1", "--microbatches", ""}
	cmd := benchCmd()
	if err := cmd.Flags().Parse(args); err != nil {
		t.Fatal(err)
	}
	line := (&benchFlags{}).command(cmd)
	_, flags, _ := strings.Cut(line, " bench ")
	want := `--data 'my corpus.txt' --devices 'cuda:0/[48,28]' --microbatches '' --out 'it'\''s $HOME' --quick=false --tag a-1`
	if flags != want {
		t.Errorf("command %s\nwant its flags %s", line, want)
	}
	out, err := exec.Command("sh", "-c", `printf '%s\n' `+flags).Output()
	if err != nil {
		t.Fatal(err)
	}
	back := strings.ReplaceAll(strings.TrimSuffix(string(out), "\n"), "\n", "|")
	if w := "--data|my corpus.txt|--devices|cuda:0/[48,28]|--microbatches||--out|it's $HOME|--quick=false|--tag|a-1"; back != w {
		t.Errorf("sh reads the flags back as %q, want %q", back, w)
	}
}
