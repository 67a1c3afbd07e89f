// Encoding many documents at once: one worker per core, the tokens kept in document order.

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

// encodeAll returns EndOfText followed by the tokens of each document, in
// the order of docs. Documents are encoded in parallel, since BPE costs
// about a microsecond a token on one core; progress, when set, is called
// from one goroutine at a time.
func encodeAll(ctx context.Context, tok *GPT2, docs []textFile, progress func(bytes, tokens int64)) ([]uint16, error) {
	out := make([][]uint16, len(docs))
	done := make([]chan struct{}, len(docs))
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
				if i >= len(docs) || ctx.Err() != nil {
					return
				}
				ts, err := encodeFile(tok, docs[i].path)
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
	for i := range docs {
		select {
		case <-done[i]:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		all = append(all, out[i]...)
		out[i] = nil // the copy in all is the one kept
		bytes += docs[i].size
		if progress != nil {
			progress(bytes, int64(len(all)))
		}
	}
	return all, nil
}

// encodeFile is EndOfText and the tokens of the file at path.
func encodeFile(tok *GPT2, path string) ([]uint16, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("data: %s disappeared while it was being tokenized", path)
		}
		return nil, fmt.Errorf("data: %v", err)
	}
	// About 2.5 bytes a token for code and English: one allocation mostly.
	return tok.Encode(append(make([]uint16, 0, len(b)/2+1), EndOfText), b)
}
