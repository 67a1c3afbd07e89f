// sample's output and input: control bytes as escapes on a terminal, and a prompt read exactly from a file or standard input.

package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// TestTerminalTextEscapesControls: ESC, NUL, BEL, backspace and DEL come
// out as \xNN; tab, newline, carriage return and multi-byte UTF-8 as they
// are; the count written is the input's.
func TestTerminalTextEscapesControls(t *testing.T) {
	var b bytes.Buffer
	in := []byte("a\x1b[2Jb\x00\x07\x08\x7f\tc\r\n日本")
	n, err := terminalText{&b}.Write(in)
	if want := `a\x1b[2Jb\x00\x07\x08\x7f` + "\tc\r\n日本"; err != nil || n != len(in) || b.String() != want {
		t.Errorf("Write = %d, %v, %q; want %d, nil, %q", n, err, b.String(), len(in), want)
	}
}

// TestPromptFromStandardInput: --prompt-file - reads the prompt from
// standard input exactly, NUL and trailing newline included, which no
// --prompt on a command line can carry.
func TestPromptFromStandardInput(t *testing.T) {
	run := trainedRun(t)
	prompt := "a\x00b\n"
	cmd := exec.Command(batonBin, "sample", "--from", run, "--prompt-file", "-", "--tokens", "0")
	cmd.Stdin = strings.NewReader(prompt)
	out, err := cmd.Output()
	if err != nil || string(out) != prompt+"\n" {
		t.Errorf("sample --prompt-file - of %q: %q, %v; want the prompt and a newline", prompt, out, err)
	}
}
