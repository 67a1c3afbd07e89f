// sample's terminal writer: control bytes as escapes, everything else as it is.

package main

import (
	"bytes"
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
