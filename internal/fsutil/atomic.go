// Package fsutil writes files so that a crash at any moment leaves either the
// old file or the whole new one, never a part: checkpoints, token shards,
// summaries and reports all go through it. OpenRegular reads only regular
// files, so a named pipe or a device given as input cannot hang the reader.
package fsutil

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"unicode/utf8"
)

// NameMax is the longest file name, in bytes, that file systems take
// (NAME_MAX on Linux, the BSDs and macOS).
const NameMax = 255

// HiddenPrefix starts the name of a temporary file or directory for a file
// named base: "." and base, cut (at a character boundary) where the whole
// name, with room bytes more after it, would be longer than NameMax. A
// legal name up to NameMax bytes long thus gets a legal temporary name
// beside it, rather than "file name too long" for a name the user never
// gave; what the caller adds after it (a random or a process number) keeps
// it unique.
func HiddenPrefix(base string, room int) string {
	if n := NameMax - 1 - room; len(base) > n {
		for n > 0 && !utf8.RuneStart(base[n]) {
			n--
		}
		base = base[:n]
	}
	return "." + base
}

// tempDigits is how many digits os.CreateTemp puts for the "*" of its
// pattern at most: a random uint32.
const tempDigits = 10

// WriteFileAtomic replaces path with data; see WriteAtomic.
func WriteFileAtomic(path string, data []byte) error {
	return WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteAtomic replaces path with what fill writes: into a temporary file in
// the same directory (rename is atomic only within one file system; its
// name is hidden and never too long, see HiddenPrefix), fsynced,
// renamed over path, and the directory fsynced so that the rename itself
// survives a power loss. The file gets mode 0644. On any error path is
// unchanged and the temporary file is gone.
//
// What is at path already decides how: a link is followed, so that the file
// it names is replaced, not the link; a device or a named pipe (/dev/stdout,
// /dev/null, a FIFO a reader waits on) is written into, since it cannot be
// swapped; a directory is refused.
func WriteAtomic(path string, fill func(w io.Writer) error) error {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, err := filepath.EvalSymlinks(path)
			if err != nil {
				return fmt.Errorf("write %s: it is a link to nothing there (%w); remove it or give another path", path, err)
			}
			return WriteAtomic(target, fill)
		}
		switch {
		case fi.IsDir():
			return fmt.Errorf("write %s: it is a directory; give a file path", path)
		case fi.Mode()&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeNamedPipe) != 0:
			return writeInto(path, fill)
		case !fi.Mode().IsRegular():
			return fmt.Errorf("write %s: it is not a regular file (%v); give a file path", path, fi.Mode().Type())
		}
	}
	dir, base := filepath.Split(filepath.Clean(path))
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, HiddenPrefix(base, len(".tmp-")+tempDigits)+".tmp-*")
	if err != nil {
		// The temporary file's random name would make the message differ
		// from run to run: name the directory and the cause alone.
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("write %s: cannot create a temporary file in %s: %w", path, dir, err)
	}
	tmp := f.Name()
	// CreateTemp makes the file 0600; what baton writes is meant to be read.
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := fillSync(f, fill); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, pathless(err, tmp))
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return SyncDir(dir)
}

// writeInto writes fill's content into the device or pipe at path, which
// cannot be replaced or synced.
func writeInto(path string, fill func(w io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	w := bufio.NewWriter(f)
	err = fill(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, pathless(err, path))
	}
	return nil
}

// pathless is err without its path where that is p (the temporary file,
// whose random name only makes a message differ from run to run, or the
// path the message names already).
func pathless(err error, p string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == p {
		return pe.Err
	}
	return err
}

// WriteNew creates path, which must not exist, streams its content from fill
// and fsyncs it: for files inside a directory that is itself swapped in
// atomically, as checkpoints are.
func WriteNew(path string, fill func(w io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := fillSync(f, fill); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Path == path {
			return err // it names path already: "write <path>: file too large"
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// fillSync writes fill's output to f through a buffer, fsyncs and closes f.
func fillSync(f *os.File, fill func(w io.Writer) error) error {
	bw := bufio.NewWriterSize(f, 1<<20)
	err := fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// SyncDir fsyncs a directory so that entries created or renamed in it are
// durable. Windows cannot open a directory for syncing and makes renames
// durable on its own, so there it does nothing.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
