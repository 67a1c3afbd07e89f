// Byte-level text: reading a file or a directory tree into tokens, one per byte.

package data

import (
	"baton/internal/words"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// textFile is a candidate file of a directory walk.
type textFile struct {
	path string
	size int64
}

// LoadText reads byte-level text from a file or a directory and splits it
// (see splitStream). A directory is walked in sorted path order, skipping
// hidden entries, symbolic links and files that look binary. When its text
// exceeds limit bytes, every k-th file is taken, with k the smallest stride
// that fits, so the sample spans the whole tree, and where their sizes
// leave it short of the limit, files between them (readTree); the file
// that reaches the limit is cut there. limit <= 0 reads everything.
func LoadText(path string, limit int64) (*Dataset, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, missing(path, err)
	}
	d := &Dataset{Source: path, Format: Text, V: TextVocab}
	var ts []uint16
	if fi.IsDir() {
		ts, err = d.readTree(path, limit)
	} else {
		ts, err = d.readOne(path, fi, limit)
	}
	if err != nil {
		return nil, err
	}
	d.MaxToken = maxToken(ts)
	d.Train, d.Val, d.Split = splitStream(ts)
	return d, nil
}

// readOne reads a single text file named directly by the user.
func (d *Dataset) readOne(path string, fi fs.FileInfo, limit int64) ([]uint16, error) {
	if err := checkText(path, fi, "give a text file, a directory of text files, or llm.c .bin shards"); err != nil {
		return nil, err
	}
	n := fi.Size()
	if limit > 0 && n > limit {
		n = limit
		d.Subset = fmt.Sprintf("first %d of %d bytes (limit %d)", limit, fi.Size(), limit)
	}
	ts := make([]uint16, n)
	got, err := readBytes(path, ts, make([]byte, 64<<10))
	if err != nil {
		return nil, err
	}
	d.Files = []string{path}
	return ts[:got], nil
}

// checkText refuses a file named by the user that is not a regular file,
// is empty or looks binary; fix says what to give instead of a binary one.
func checkText(path string, fi fs.FileInfo, fix string) error {
	switch {
	case !fi.Mode().IsRegular():
		return fmt.Errorf("data: %s is not a regular file or a directory", path)
	case fi.Size() == 0:
		return fmt.Errorf("data: %s is empty; give a file that holds text", path)
	}
	why, err := sniff(path, fi.Size(), make([]byte, sniffLen))
	if err != nil {
		return err
	}
	if why != "" {
		return fmt.Errorf("data: %s looks binary (%s); %s", path, why, fix)
	}
	return nil
}

// readTree walks root, samples its text files under limit and reads them.
func (d *Dataset) readTree(root string, limit int64) ([]uint16, error) {
	files, skipped, err := walkText(root)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, f := range files {
		total += f.size
	}
	if total == 0 {
		return nil, fmt.Errorf("data: %s has no text files (%s); give a directory that holds text, or llm.c .bin shards", root, skipped)
	}
	k := int64(1)
	if limit > 0 && total > limit {
		k = (total + limit - 1) / limit
		d.Subset = fmt.Sprintf("every %s of %s (%d bytes), up to %d bytes", words.Ordinal(k), words.Count(len(files), "text file"), total, limit)
		if k >= int64(len(files)) { // one file, cut to the limit
			d.Subset = fmt.Sprintf("the first %d bytes of the first of %s (%d bytes)", min(limit, files[0].size), words.Count(len(files), "text file"), total)
		}
	}
	// Every k-th file from file 0; where their sizes differ so much that
	// these fall short of the limit (a large file between the ones taken),
	// every k-th from file 1, then from file 2, …, until it is reached: a
	// sample of the limit's size, still spread over the tree. The file
	// that reaches the limit is cut there.
	room := func(n int64) int64 {
		if limit <= 0 {
			return math.MaxInt64
		}
		return limit - n
	}
	sizes := make([]int64, len(files)) // taken of each file
	var n int64
	more := 0
	for o := int64(0); o < k && room(n) > 0; o++ {
		for i := o; i < int64(len(files)) && room(n) > 0; i += k {
			sizes[i] = min(files[i].size, room(n))
			n += sizes[i]
			if o > 0 {
				more++
			}
		}
	}
	var take []textFile
	for i, f := range files { // in the tree's order
		if sizes[i] > 0 {
			take = append(take, textFile{f.path, sizes[i]})
		}
	}
	switch {
	case more > 0 && k >= int64(len(files)): // a stride past the tree: its first files
		d.Subset = fmt.Sprintf("the first %s of %s (%d bytes), up to %d bytes", words.Count(len(take), "file"), words.Count(len(files), "text file"), total, limit)
	case more > 0:
		d.Subset = fmt.Sprintf("every %s of %s (%d bytes), and %s between them to fill the limit of %d bytes",
			words.Ordinal(k), words.Count(len(files), "text file"), total, words.Count(more, "file"), limit)
	}
	ts := make([]uint16, n)
	buf := make([]byte, 64<<10)
	var at int64
	for _, f := range take {
		got, err := readBytes(f.path, ts[at:at+f.size], buf)
		if err != nil {
			return nil, err
		}
		at += int64(got)
		d.Files = append(d.Files, f.path)
	}
	return ts[:at], nil
}

// walkText lists the non-empty text files under root in sorted path order,
// with a note of what it skipped for error messages.
func walkText(root string) ([]textFile, string, error) {
	// Resolve a symlinked root: WalkDir would report it as a link and stop.
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, "", missing(root, err)
	}
	var all []textFile
	var hidden, links, empty, other int
	err = filepath.WalkDir(real, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("data: walking %s: %v", root, err)
		}
		if p == real {
			return nil
		}
		if e.Name()[0] == '.' {
			hidden++
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch t := e.Type(); {
		case t&fs.ModeSymlink != 0:
			links++
			return nil
		case t.IsDir():
			return nil
		case !t.IsRegular():
			other++
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return fmt.Errorf("data: walking %s: %v", root, err)
		}
		if fi.Size() == 0 {
			empty++
			return nil
		}
		all = append(all, textFile{p, fi.Size()})
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	if real != root {
		for i := range all {
			all[i].path = root + all[i].path[len(real):]
		}
	}
	slices.SortFunc(all, func(a, b textFile) int { return strings.Compare(a.path, b.path) })
	text, binary, err := sniffAll(all)
	if err != nil {
		return nil, "", err
	}
	skipped := fmt.Sprintf("skipped %d binary, %d empty, %d hidden, %d symlinks, %d special", binary, empty, hidden, links, other)
	return text, skipped, nil
}

// readBytes reads path into dst, one token per byte, through buf, and
// returns how many tokens it wrote: fewer than len(dst) only if the file
// shrank meanwhile.
func readBytes(path string, dst []uint16, buf []byte) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("data: %v", err)
	}
	defer f.Close()
	n := 0
	for n < len(dst) {
		m, err := f.Read(buf[:min(len(buf), len(dst)-n)])
		for i, b := range buf[:m] {
			dst[n+i] = uint16(b)
		}
		n += m
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, fmt.Errorf("data: reading %s: %v", path, err)
		}
	}
	return n, nil
}
