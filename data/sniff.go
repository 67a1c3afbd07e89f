// Binary sniffing: deciding from a file's first 8 KiB whether it is text.

package data

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// sniffLen is how much of a file is inspected, as git and grep do: enough to
// catch binary formats, cheap enough to do for every file of a large tree.
const sniffLen = 8 << 10

// looksBinary says why head, the start of a file of size bytes, is not
// text, or "" if it is text.
func looksBinary(head []byte, size int64) string {
	if i := bytes.IndexByte(head, 0); i >= 0 {
		return fmt.Sprintf("NUL byte at offset %d", i)
	}
	if int64(len(head)) < size {
		// The cut may fall inside a multi-byte character: ignore a
		// trailing incomplete one.
		for i := len(head) - 1; i >= 0 && i >= len(head)-utf8.UTFMax+1; i-- {
			if utf8.RuneStart(head[i]) {
				if !utf8.FullRune(head[i:]) {
					head = head[:i]
				}
				break
			}
		}
	}
	if !utf8.Valid(head) {
		return fmt.Sprintf("invalid UTF-8 in the first %d bytes", len(head))
	}
	return ""
}

// sniff reads the start of path, a file of size bytes, into buf (sniffLen
// bytes, reused across calls) and returns looksBinary's verdict.
func sniff(path string, size int64, buf []byte) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("data: %v", err)
	}
	defer f.Close()
	n, err := io.ReadFull(f, buf[:sniffLen])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("data: reading %s: %v", path, err)
	}
	return looksBinary(buf[:n], size), nil
}

// sniffAll keeps the files of fs that look like text, in order, and counts
// the rest. Files are inspected in parallel: a tree like GOROOT/src has
// thousands of them and the cost is mostly system calls.
func sniffAll(fs []textFile) (text []textFile, binary int, err error) {
	bin := make([]bool, len(fs))
	errs := make([]error, len(fs))
	workers := min(max(2*runtime.GOMAXPROCS(0), 4), 32)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, sniffLen)
			for {
				j := int(next.Add(1) - 1)
				if j >= len(fs) {
					return
				}
				why, err := sniff(fs[j].path, fs[j].size, buf)
				bin[j], errs[j] = why != "", err
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, 0, err
		}
	}
	for j, f := range fs {
		if bin[j] {
			binary++
		} else {
			text = append(text, f)
		}
	}
	return text, binary, nil
}
