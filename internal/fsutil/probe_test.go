// ProbeDir on places that can and cannot be written.

package fsutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProbeDir(t *testing.T) {
	root := t.TempDir()
	if err := ProbeDir(filepath.Join(root, "a", "b")); err != nil {
		t.Fatalf("a new nested directory: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "a", "b")); len(entries) != 0 {
		t.Errorf("the probe left %v behind", entries)
	}
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{file, filepath.Join(file, "sub"), "/dev/null", filepath.Join(root, strings.Repeat("n", 300))} {
		if err := ProbeDir(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
