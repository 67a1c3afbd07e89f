// sample's text on a terminal: control bytes shown as escapes, so that a byte-level model's output cannot drive the terminal.

package main

import (
	"fmt"
	"io"
)

// terminalText writes to a terminal what it is given, but for the control
// bytes other than tab, newline and carriage return, and DEL, which it
// writes as \xNN: an untrained byte-level model emits escape sequences
// (ESC, NUL, BEL) that would move the cursor, change colours or ring the
// bell. Output to a file or pipe is not wrapped: it is exactly the bytes.
type terminalText struct{ w io.Writer }

func (t terminalText) Write(b []byte) (int, error) {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			out = fmt.Appendf(out, `\x%02x`, c)
			continue
		}
		out = append(out, c)
	}
	if _, err := t.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}
