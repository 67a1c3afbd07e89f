// Outputs against inputs: the same file, an output inside an input directory, an input where a run writes.

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckOutputs(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "texts")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(data, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	corpus := filepath.Join(dir, "corpus.txt")
	for _, c := range []struct {
		name            string
		outputs, inputs []pathFlag
		err             string
	}{
		{"profile over the corpus", []pathFlag{{"--cpuprofile", corpus, false}}, []pathFlag{{"--data", corpus, false}}, "--cpuprofile " + corpus + " is also --data"},
		{"the same file spelled two ways", []pathFlag{{"--cpuprofile", filepath.Join(data, "..", "corpus.txt"), false}}, []pathFlag{{"--data", corpus, false}}, "is also --data"},
		{"run directory inside the data", []pathFlag{{"--out", filepath.Join(data, "run"), true}}, []pathFlag{{"--data", data, true}}, "lies inside --data"},
		{"through a link", []pathFlag{{"--out", filepath.Join(dir, "link", "run"), true}}, []pathFlag{{"--data", data, true}}, "lies inside --data"},
		{"data where the run writes its summary", []pathFlag{{"--out", dir, true}}, []pathFlag{{"--data", filepath.Join(dir, "summary.json"), false}}, "where a run writes its own summary.json"},
		{"init-from the checkpoint --overwrite replaces", []pathFlag{{"--out", dir, true}}, []pathFlag{{"--init-from", filepath.Join(dir, "checkpoint"), true}}, "where a run writes its own checkpoint"},
		{"data in the run directory named like its checkpoint", []pathFlag{{"--out", dir, true}}, []pathFlag{{"--data", filepath.Join(dir, "checkpointed_texts"), true}}, ""},
		{"data in the checkpoint's previous save", []pathFlag{{"--out", dir, true}}, []pathFlag{{"--data", filepath.Join(dir, "checkpoint.old", "x.txt"), false}}, "where a run writes its own checkpoint.old"},
		{"run directory beside the data", []pathFlag{{"--out", filepath.Join(dir, "run"), true}}, []pathFlag{{"--data", data, true}}, ""},
		{"data file in the run directory, not one it writes", []pathFlag{{"--out", dir, true}}, []pathFlag{{"--data", corpus, false}}, ""},
		{"a sibling whose name starts the same", []pathFlag{{"--out", data + "2", true}}, []pathFlag{{"--data", data, true}}, ""},
		{"unset paths", []pathFlag{{"--cpuprofile", "", false}}, []pathFlag{{"--data", "", false}}, ""},
	} {
		err := checkOutputs(c.outputs, c.inputs)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: %v; want %q", c.name, err, c.err)
		}
	}
}
