// Tests of baton tokenize as a user runs it: shards train can read, the text they hold, a quiet stderr off a terminal.

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"baton/data"
)

func TestTokenizeCommand(t *testing.T) {
	dir := t.TempDir()
	r := baton(t, dir, "tokenize", "--out", "shards", "--val-fraction", "0.1", corpus)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("stderr is not a terminal, yet tokenize wrote to it: %q", r.stderr)
	}
	if !regexp.MustCompile(`^1 document, \d+ bytes: \d+ training and \d+ validation tokens in 2 shards in shards \(\d+ tokens/s\)\n$`).MatchString(r.stdout) {
		t.Errorf("stdout = %q", r.stdout)
	}
	ds, err := data.Load(filepath.Join(dir, "shards"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Val[0] != data.EndOfText || len(ds.Val) == 0 || len(ds.Train) < 8*len(ds.Val) {
		t.Errorf("%d validation tokens starting %v, %d training", len(ds.Val), ds.Val[:1], len(ds.Train))
	}
	text, err := data.NewGPT2().Decode(nil, append(ds.Val[1:], ds.Train...))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(corpus)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(text, want) {
		t.Error("the shards do not decode to the corpus")
	}
	// GPT-2 tokens are beyond a byte-level model's vocabulary: still an error.
	r = baton(t, dir, tinyTrain(filepath.Join(dir, "run"), 1, "--data", "shards")...)
	if r.code != 1 || !regexp.MustCompile(`holds GPT-2's tokens \(up to \d+\) but the model's vocabulary is 256; use --model gpt2-124m or another gpt2- preset, made as small as a run needs with --layers, --width and --heads`).MatchString(r.stderr) {
		t.Errorf("training a byte-level model on GPT-2 shards: exit %d, %s", r.code, r.stderr)
	}
	// --data-limit bounds text; shards are read whole, and a limit given says so.
	r = baton(t, dir, "train", "--model", "gpt2-124m", "--layers", "1", "--width", "32", "--heads", "2", "--context", "16", "--devices", "cpu:0",
		"--batch", "1", "--microbatches", "1", "--steps", "1", "--quiet", "--data", "shards", "--data-limit", "1000", "--out", filepath.Join(dir, "gpt2"))
	if want := "--data-limit 1000 limits text only: the llm.c shards of shards are read whole"; r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("training on shards with --data-limit: exit %d, want 0 and a warning %q:\n%s", r.code, want, r.stderr)
	}
}

// TestTokenizeInterrupted: Ctrl-C while encoding (the whole default corpus
// takes half a minute) exits 130 and leaves no directory behind.
func TestTokenizeInterrupted(t *testing.T) {
	dir := t.TempDir()
	c := startChild(t, dir, "tokenize", "--out", "shards")
	time.Sleep(time.Second) // past the walk of the corpus: into the encoding
	c.signal(t, os.Interrupt)
	code, killed := c.wait(t)
	if code != 130 || killed || !strings.Contains(c.errText(), "no shard was written") {
		t.Fatalf("exit %d (killed: %v); stderr:\n%s", code, killed, c.errText())
	}
	if _, err := os.Stat(filepath.Join(dir, "shards")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an interrupted tokenize left shards/ (%v)", err)
	}
}

// TestTokenizeStoppedWhileWriting: Ctrl-C or SIGKILL once the first shard
// is written leaves shards/ without any shard or with all of them, never
// the validation shard alone, and a run that exits 0 after a signal says
// why.
func TestTokenizeStoppedWhileWriting(t *testing.T) {
	in := t.TempDir()
	text := codeText(1 << 20)
	for i := range 8 { // 8 documents: encoded in parallel, in a few seconds
		if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("%d.txt", i)), text, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, sig := range []os.Signal{os.Interrupt, os.Kill} {
		dir := t.TempDir()
		// A small validation shard is written first, then the training
		// shard for tens of milliseconds: the signal lands in between.
		c := startChild(t, dir, "tokenize", "--out", "shards", "--val-fraction", "0.001", in)
		for deadline := time.Now().Add(childTimeout); !holds(dir, "val_000000.bin"); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%v: no validation shard was written; stderr:\n%s", sig, c.errText())
			}
		}
		c.signal(t, sig)
		code, _ := c.wait(t)
		es, err := os.ReadDir(filepath.Join(dir, "shards"))
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			t.Fatal(err)
		case strings.Join(names, " ") != "train_000000.bin val_000000.bin":
			t.Errorf("%v: shards/ holds %v, want both shards or nothing", sig, names)
		case code == 0 && !strings.Contains(c.errText(), "they are complete and kept"):
			t.Errorf("%v: exit 0 with every shard, but stderr does not say why after the signal:\n%s", sig, c.errText())
		}
		if sig == os.Interrupt && code != 0 && (code != 130 || !strings.Contains(c.errText(), "no shard was written")) {
			t.Errorf("%v: exit %d; stderr:\n%s", sig, code, c.errText())
		}
	}
}

// holds says whether a file named name lies anywhere under dir, hidden
// directories included.
func holds(dir, name string) bool {
	found := false
	filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		found = found || err == nil && e.Name() == name
		return nil // entries renamed away meanwhile are skipped
	})
	return found
}
