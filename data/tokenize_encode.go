// Encoding many documents at once: one worker per core, large documents cut where GPT-2's pre-tokenizer cuts anyway, the tokens kept in document order.

package data

import (
	"context"
	"errors"
	"fmt"
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

// piece is a part of document doc to encode: text, or the whole file at
// its path where text is nil; the first piece of a document starts with
// EndOfText.
type piece struct {
	path  string
	text  []byte
	first bool
	size  int64
}

// encodeAll returns EndOfText followed by the tokens of each document, in
// the order of docs. Pieces of at most about cut bytes (pieceBytes) are
// encoded in parallel; progress, when set, is called from one goroutine at
// a time.
func encodeAll(ctx context.Context, tok *GPT2, docs []textFile, cut int, progress func(bytes, tokens int64)) ([]uint16, error) {
	var pieces []piece
	for _, d := range docs {
		if d.size <= int64(cut) {
			pieces = append(pieces, piece{path: d.path, first: true, size: d.size})
			continue
		}
		b, err := readDoc(d.path)
		if err != nil {
			return nil, err
		}
		for i, part := range cutText(b, cut) {
			pieces = append(pieces, piece{path: d.path, text: part, first: i == 0, size: int64(len(part))})
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
		out[i], pieces[i].text = nil, nil // the copy in all is the one kept
		bytes += pieces[i].size
		if progress != nil {
			progress(bytes, int64(len(all)))
		}
	}
	return all, nil
}

// cutText cuts b into parts of about n bytes or more, each cut just after
// a newline between two printable ASCII characters other than a space.
// GPT-2's pre-tokenizer makes such a newline a token of its own whether
// text goes on after it or not (after other whitespace it would not: at
// the end of a part, "  \n" is one token, where "  " and "\n" are two in
// the whole), and BPE merges only within its tokens, so the parts encode
// to the tokens of b, in order. Text with no such place stays whole.
func cutText(b []byte, n int) [][]byte {
	var parts [][]byte
	for len(b) > n {
		at := -1
		for i := max(n, 2); i < len(b); i++ {
			if b[i-1] == '\n' && printable(b[i-2]) && printable(b[i]) {
				at = i
				break
			}
		}
		if at < 0 {
			break
		}
		parts, b = append(parts, b[:at]), b[at:]
	}
	return append(parts, b)
}

// printable says whether c is a printable ASCII character other than a space.
func printable(c byte) bool { return c > ' ' && c < 0x7f }

// encodePiece is the tokens of p, after EndOfText where it starts a document.
func encodePiece(tok *GPT2, p piece) ([]uint16, error) {
	text := p.text
	if text == nil {
		var err error
		if text, err = readDoc(p.path); err != nil {
			return nil, err
		}
	}
	// About 2.5 bytes a token for code and English: one allocation mostly.
	ts := make([]uint16, 0, len(text)/2+1)
	if p.first {
		ts = append(ts, EndOfText)
	}
	return tok.Encode(ts, text)
}

// readDoc reads a document to tokenize.
func readDoc(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("data: %s disappeared while it was being tokenized", path)
	case err != nil:
		return nil, fmt.Errorf("data: %v", err)
	}
	return b, nil
}
