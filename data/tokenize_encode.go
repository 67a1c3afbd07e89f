// Encoding many documents at once: one worker per core, large documents cut where GPT-2's pre-tokenizer cuts anyway, the tokens kept in document order.

package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
)

// pieceBytes is about the most text one worker encodes at a time: a large
// document is cut into pieces of this size, so that one file uses every
// core and a stop waits for a piece, not the file (BPE takes about a
// microsecond a token on a core: 4 MiB, about half a second).
const pieceBytes = 4 << 20

// piece is a part of a document to encode, size bytes of the file at path
// from off, read by the worker that encodes it, so that the text in memory
// at once is a few pieces; a document's first piece starts with EndOfText.
type piece struct {
	path      string
	off, size int64
}

// encodeAll returns EndOfText followed by the tokens of each document, in
// the order of docs. Pieces of at most about cut bytes (pieceBytes) are
// encoded in parallel; progress, when set, is called from one goroutine at
// a time.
func encodeAll(ctx context.Context, tok *GPT2, docs []textFile, cut int, progress func(bytes, tokens int64)) ([]uint16, error) {
	var pieces []piece
	for _, d := range docs {
		cuts := []int64{0}
		if d.size > int64(cut) {
			more, err := fileCuts(d.path, d.size, cut)
			if err != nil {
				return nil, err
			}
			cuts = append(cuts, more...)
		}
		for i, off := range cuts {
			end := d.size
			if i+1 < len(cuts) {
				end = cuts[i+1]
			}
			pieces = append(pieces, piece{path: d.path, off: off, size: end - off})
		}
	}
	out := make([][]uint16, len(pieces))
	done := make([]chan struct{}, len(pieces))
	for i := range done {
		done[i] = make(chan struct{})
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(pieces) || ctx.Err() != nil {
					return
				}
				ts, err := encodePiece(tok, pieces[i])
				if err != nil {
					cancel(err)
					return
				}
				out[i] = ts
				close(done[i])
			}
		}()
	}
	defer wg.Wait()
	var all []uint16
	var bytes int64
	for i := range pieces {
		select {
		case <-done[i]:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		all = append(all, out[i]...)
		out[i] = nil // the copy in all is the one kept
		bytes += pieces[i].size
		if progress != nil {
			progress(bytes, int64(len(all)))
		}
	}
	return all, nil
}

// cuts are the offsets where the size bytes r holds are cut into parts of
// about n bytes or more (n >= 2), each cut just after a newline between
// two printable ASCII characters other than a space. GPT-2's pre-tokenizer
// makes such a newline a token of its own whether text goes on after it
// or not (after other whitespace it would not: at the end of a part,
// "  \n" is one token, where "  " and "\n" are two in the whole), and BPE
// merges only within its tokens, so the parts encode to the tokens of the
// whole, in order. Text with no such place stays whole. Each cut is
// looked for from n bytes past the last, so that of a large file only a
// little around each cut is read, not the whole file before its pieces.
func cuts(r io.ReaderAt, size int64, n int) ([]int64, error) {
	var out []int64
	buf := make([]byte, 64<<10)
	for last := int64(0); ; {
		at, err := nextCut(r, size, last+int64(n), buf)
		if err != nil || at < 0 {
			return out, err
		}
		out = append(out, at)
		last = at
	}
}

// nextCut is the first place from (>= 2) on where cuts may cut, or -1.
func nextCut(r io.ReaderAt, size, from int64, buf []byte) (int64, error) {
	for s := from - 2; s+2 < size; s += int64(len(buf)) - 2 { // windows overlapping by the two bytes before a place
		w := buf[:min(int64(len(buf)), size-s)]
		if _, err := r.ReadAt(w, s); err != nil {
			return -1, err
		}
		for i := 2; i < len(w); i++ {
			if w[i-1] == '\n' && printable(w[i-2]) && printable(w[i]) {
				return s + int64(i), nil
			}
		}
	}
	return -1, nil
}

// fileCuts is cuts of the file at path, of size bytes.
func fileCuts(path string, size int64, n int) ([]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, docError(path, err)
	}
	defer f.Close()
	c, err := cuts(f, size, n)
	if err != nil {
		return nil, docError(path, err)
	}
	return c, nil
}

// printable says whether c is a printable ASCII character other than a space.
func printable(c byte) bool { return c > ' ' && c < 0x7f }

// encodePiece is the tokens of p, after EndOfText where it starts a document.
func encodePiece(tok *GPT2, p piece) ([]uint16, error) {
	f, err := os.Open(p.path)
	if err != nil {
		return nil, docError(p.path, err)
	}
	defer f.Close()
	text := make([]byte, p.size)
	if _, err := f.ReadAt(text, p.off); err != nil {
		return nil, docError(p.path, err)
	}
	// About 2.5 bytes a token for code and English: one allocation mostly.
	ts := make([]uint16, 0, len(text)/2+1)
	if p.off == 0 {
		ts = append(ts, EndOfText)
	}
	return tok.Encode(ts, text)
}

// docError is err of reading the document at path.
func docError(path string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("data: %s disappeared while it was being tokenized", path)
	}
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("data: %s got shorter while it was being tokenized", path)
	}
	return fmt.Errorf("data: %v", err)
}
