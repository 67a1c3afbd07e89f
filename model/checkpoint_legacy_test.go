// The older layout, optimizer.safetensors beside the model: still loaded bit for bit, and refused beside the new one.

package model

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// legacyLayout rewrites the checkpoint in dir as Save wrote it before the
// AdamW moments moved into optimizer/.
func legacyLayout(t *testing.T, dir string) {
	t.Helper()
	if err := os.Rename(filepath.Join(dir, optimizerFile), filepath.Join(dir, legacyOptimizerFile)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, optimizerDir)); err != nil {
		t.Fatal(err)
	}
}

func TestLoadLegacyLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	want := tinyCheckpoint(3)
	mustSave(t, dir, want)
	legacyLayout(t, dir)
	got, err := LoadResume(dir)
	if err != nil {
		t.Fatal(err)
	}
	sameCheckpoint(t, got, want)

	// Saving over it writes the new layout only.
	mustSave(t, dir, tinyCheckpoint(4))
	if _, err := os.Stat(filepath.Join(dir, legacyOptimizerFile)); !os.IsNotExist(err) {
		t.Errorf("%s survives a Save over the old layout (stat: %v)", legacyOptimizerFile, err)
	}
	if got, err = LoadResume(dir); err != nil {
		t.Fatal(err)
	}
	sameCheckpoint(t, got, tinyCheckpoint(4))
}

// TestLoadRefusesBothLayouts: with moments in both places, which one the
// run wrote last is unknown, so neither is guessed.
func TestLoadRefusesBothLayouts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	mustSave(t, dir, tinyCheckpoint(3))
	b, err := os.ReadFile(filepath.Join(dir, optimizerFile))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, legacyOptimizerFile), b)
	_, err = LoadResume(dir)
	if err == nil || !strings.Contains(err.Error(), "holds both optimizer/optimizer.safetensors and the older layout's optimizer.safetensors") {
		t.Errorf("LoadResume = %v, want an error naming both files", err)
	}
}
