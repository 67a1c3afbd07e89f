//go:build unix

// Tests that OpenRegular opens regular files (through links) and refuses pipes, devices and directories without blocking.

package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestOpenRegular(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{file, link} {
		f, fi, err := OpenRegular(p)
		if err != nil {
			t.Fatalf("OpenRegular(%s): %v", p, err)
		}
		if fi.Size() != 3 {
			t.Errorf("%s: size %d, want 3", p, fi.Size())
		}
		f.Close()
	}
	if _, _, err := OpenRegular(filepath.Join(dir, "none")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v, want ErrNotExist", err)
	}
}

func TestOpenRegularRefuses(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	linkToFifo := filepath.Join(dir, "link")
	if err := os.Symlink(fifo, linkToFifo); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		fifo:        "a named pipe (FIFO)",
		linkToFifo:  "a named pipe (FIFO)",
		"/dev/null": "a character device",
		dir:         "a directory",
	}
	for path, kind := range cases {
		done := make(chan error, 1)
		go func() {
			f, _, err := OpenRegular(path)
			if f != nil {
				f.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			var nr *NotRegularError
			if !errors.As(err, &nr) || !strings.Contains(err.Error(), path+" is "+kind+", not a regular file") {
				t.Errorf("OpenRegular(%s) = %v, want it refused as %s", path, err, kind)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("OpenRegular(%s) blocked", path)
		}
	}
}
