// Package runlock keeps two processes out of one run directory: an advisory
// lock (flock) on the directory's .lock file, held for the run's life.
//
// The kernel drops the lock when its holder dies, however it dies, so a lock
// file left behind by a killed run never blocks the next one; only a live
// holder does. The file holds the holder's pid, for the message of a run
// that is refused. Main types: Lock (a held lock) and BusyError (the
// directory is another live process's).
package runlock

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Name is the lock file's name inside the directory.
const Name = ".lock"

// Lock is a held lock on a directory.
type Lock struct {
	f    *os.File
	path string
	made []string // directories Acquire created, deepest first

	release sync.Once
	err     error // Release's
}

// BusyError is a directory locked by another live process.
type BusyError struct {
	Dir string
	PID int // 0 when the holder's pid could not be read
}

func (e *BusyError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = fmt.Sprintf("process %d", e.PID)
	}
	return fmt.Sprintf("%s is in use by %s, which holds %s", e.Dir, who, filepath.Join(e.Dir, Name))
}

// Acquire creates dir if needed and locks it, or returns a *BusyError at
// once when another process holds it. It writes nothing else: a refused
// caller leaves the directory as it was.
func Acquire(dir string) (*Lock, error) {
	made, err := mkdirAll(dir)
	if err != nil {
		return nil, err
	}
	l, err := lockIn(dir)
	if err != nil {
		removeEmpty(made)
		return nil, err
	}
	l.made = made
	return l, nil
}

// lockIn locks dir's lock file and writes this process's pid into it.
func lockIn(dir string) (*Lock, error) {
	path := filepath.Join(dir, Name)
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if !ok {
			pid := holder(f)
			f.Close()
			return nil, &BusyError{Dir: dir, PID: pid}
		}
		// A holder removes the file before it unlocks (Release): a lock
		// on a file no longer at path would be a second holder's.
		if !stillAt(f, path) {
			f.Close()
			continue
		}
		l := &Lock{f: f, path: path}
		if err := l.writePID(); err != nil {
			l.Release()
			return nil, fmt.Errorf("writing the pid to %s: %w", path, err)
		}
		return l, nil
	}
}

func (l *Lock) writePID() error {
	if err := l.f.Truncate(0); err != nil {
		return err
	}
	_, err := l.f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// stillAt reports whether the open file f is the one at path.
func stillAt(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// holder reads the holder's pid from its lock file, giving it a moment to
// write it: it locks first and writes after.
func holder(f *os.File) int {
	buf := make([]byte, 32)
	for range 20 {
		n, _ := f.ReadAt(buf, 0)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n]))); err == nil && pid > 0 {
			return pid
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0
}

// Release removes the lock file, then the directories Acquire created if
// they are still empty (a run that failed before writing anything leaves
// no trace), and gives the lock up. Removing the file before unlocking it
// is what lets Acquire detect a lock on a removed file. Only the first
// call does so, and any call returns once it has: a process may release
// on its way out from a signal handler while its own return releases too,
// and a second removal could take the next holder's lock file.
func (l *Lock) Release() error {
	l.release.Do(func() {
		l.err = os.Remove(l.path)
		if cerr := l.f.Close(); l.err == nil {
			l.err = cerr
		}
		removeEmpty(l.made)
	})
	return l.err
}

// mkdirAll is os.MkdirAll, returning the directories it created, deepest first.
func mkdirAll(dir string) ([]string, error) {
	var made []string
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			break
		}
		made = append(made, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return made, nil
}

// removeEmpty removes the directories, deepest first, up to the first that
// is not empty.
func removeEmpty(dirs []string) {
	for _, d := range dirs {
		if os.Remove(d) != nil {
			return
		}
	}
}
