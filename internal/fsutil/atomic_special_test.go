//go:build unix

// What WriteAtomic does with what is at the path already: a link's file is replaced (the link kept), a device or a pipe is written into (never replaced), a directory or a dangling link is refused.
package fsutil

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestWriteAtomicFollowsALink(t *testing.T) {
	dir := t.TempDir()
	target, link := filepath.Join(dir, "target.svg"), filepath.Join(dir, "link.svg")
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("target.svg", link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(link, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v, %v", fi.Mode(), err)
	}
	if got, _ := os.ReadFile(target); string(got) != "new" {
		t.Fatalf("the link's file holds %q, want the new content", got)
	}
	if err := os.Symlink("nowhere", filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "dangling"), []byte("x")); err == nil || !strings.Contains(err.Error(), "a link to nothing") {
		t.Fatalf("a dangling link: %v", err)
	}
}

func TestWriteAtomicWritesIntoADeviceOrAPipe(t *testing.T) {
	// A node of its own, like /dev/null (1, 3), so that a writer that
	// replaced devices would replace this one, not the system's.
	dir := t.TempDir()
	if null := filepath.Join(dir, "null"); syscall.Mknod(null, syscall.S_IFCHR|0o666, 1<<8|3) == nil {
		if err := WriteFileAtomic(null, []byte("discarded")); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(null); err != nil || fi.Mode()&fs.ModeCharDevice == 0 {
			t.Fatalf("the device was replaced: %v, %v", fi.Mode(), err)
		}
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no named pipes here:", err)
	}
	read := make(chan string)
	go func() {
		b, _ := os.ReadFile(fifo)
		read <- string(b)
	}()
	if err := WriteFileAtomic(fifo, []byte("through the pipe")); err != nil {
		t.Fatal(err)
	}
	if got := <-read; got != "through the pipe" {
		t.Fatalf("the pipe's reader got %q", got)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Fatalf("the pipe was replaced: %v, %v", fi.Mode(), err)
	}
}

func TestWriteAtomicRefusesADirectory(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFileAtomic(dir, []byte("x")); err == nil || !strings.Contains(err.Error(), "it is a directory") {
		t.Fatalf("a directory: %v", err)
	}
}
