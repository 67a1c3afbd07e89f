// Tests of the atomic writers.

package fsutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "summary.json")
	for _, content := range []string{`{"a":1}`, `{"a":2, "longer": true}`, ``} {
		if err := WriteFileAtomic(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read back %q, %v; want %q", got, err, content)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only summary.json (temporary files left behind?)", len(entries))
	}
}

func TestWriteFileAtomicMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "file.json")
	if err := WriteFileAtomic(path, []byte("x")); err == nil {
		t.Fatal("WriteFileAtomic into a missing directory succeeded")
	}
}

// TestWriteAtomicLongName: a name as long as a file system takes is
// written, though "."+name+".tmp-NNN" would be too long, and its
// temporary file is gone after.
func TestWriteAtomicLongName(t *testing.T) {
	for _, name := range []string{strings.Repeat("c", 240) + ".csv", strings.Repeat("é", 125) + ".svg"} {
		dir := t.TempDir()
		path := filepath.Join(dir, name)
		if err := WriteFileAtomic(path, []byte("x")); err != nil {
			t.Fatalf("%d-byte name: %v", len(name), err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("%d-byte name: the directory holds %d entries, want the file alone", len(name), len(entries))
		}
	}
}

func TestHiddenPrefix(t *testing.T) {
	if got := HiddenPrefix("summary.json", 15); got != ".summary.json" {
		t.Errorf("a short name: %q", got)
	}
	long := strings.Repeat("é", 127) // 254 bytes
	got := HiddenPrefix(long, 15)
	if len(got)+15 > NameMax || !strings.HasPrefix(got, ".é") || !utf8.ValidString(got) {
		t.Errorf("a 254-byte name: %q (%d bytes), want a hidden prefix of whole characters, at most %d bytes", got, len(got), NameMax-15)
	}
}
