// launch's output: every rank's lines, whole and prefixed with [rank R], on one stdout and one stderr.

package main

import (
	"bytes"
	"io"
	"sync"
)

// lines is one of launch's outputs, shared by the ranks, written a whole
// line at a time so that two ranks' lines never mix.
type lines struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lines) write(b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// A failed write drops the line: the rank must keep running and saving
	// when launch's terminal or pipe is gone.
	l.w.Write(b)
}

// maxLine is the longest partial line a rank's output holds back: a write
// that passes it sends the line so far out as a line of its own, so that a
// rank that never ends its line cannot grow launch without bound.
const maxLine = 64 << 10

// prefixed is a rank's stdout or stderr: each line it writes goes to out
// whole, after the rank's prefix.
type prefixed struct {
	out    *lines
	prefix int
	line   []byte // the prefix, then the line so far
}

func newPrefixed(out *lines, prefix string) *prefixed {
	return &prefixed{out: out, prefix: len(prefix), line: []byte(prefix)}
}

func (p *prefixed) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.line = append(p.line, b...)
			if len(p.line)-p.prefix >= maxLine {
				p.flush()
			}
			break
		}
		p.line = append(p.line, b[:i+1]...)
		p.out.write(p.line)
		p.line = p.line[:p.prefix]
		b = b[i+1:]
	}
	return n, nil
}

// flush writes a line not ended yet, ending it.
func (p *prefixed) flush() {
	if len(p.line) > p.prefix {
		p.out.write(append(p.line, '\n'))
		p.line = p.line[:p.prefix]
	}
}
