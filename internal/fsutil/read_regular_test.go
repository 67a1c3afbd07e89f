//go:build unix

// Tests that ReadRegular reads a regular file whole and refuses a named pipe at once, and that a missing file is worded as os.Open words it.

package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestReadRegular(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadRegular(file); err != nil || string(b) != "abc" {
		t.Fatalf("ReadRegular(file) = %q, %v; want abc", b, err)
	}
	missing := filepath.Join(dir, "none")
	_, err := ReadRegular(missing)
	if want := "open " + missing + ": no such file or directory"; err == nil || err.Error() != want || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v, want %q", err, want)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := ReadRegular(fifo)
		done <- err
	}()
	select {
	case err := <-done:
		var nr *NotRegularError
		if want := fifo + " is a named pipe (FIFO), not a regular file"; !errors.As(err, &nr) || err.Error() != want {
			t.Errorf("a named pipe: %v, want %q", err, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadRegular blocked on a named pipe")
	}
}
