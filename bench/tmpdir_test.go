// A TMPDIR where no run directory can be made is found before the sweep, and named.

package bench

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCheckTempDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	if err := CheckTempDir(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the check left %d entries in TMPDIR", len(entries))
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for v, cause := range map[string]string{filepath.Join(dir, "missing", "x"): "no such file or directory", file: "not a directory"} {
		t.Setenv("TMPDIR", v)
		want := "TMPDIR=" + v + ": cannot make the sweep's temporary run directories there: " + cause + "; unset TMPDIR or point it at a writable directory"
		if err := CheckTempDir(); err == nil || err.Error() != want {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
}
