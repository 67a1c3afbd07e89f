// Tests of Tokenize: the shards it writes, its split, and the round trip over the default corpus.

package data

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestTokenizeDocuments: each file is one document, EndOfText before each.
func TestTokenizeDocuments(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "shards")
	writeFile(t, filepath.Join(in, "a.txt"), []byte("Hello world"))
	writeFile(t, filepath.Join(in, "b.txt"), []byte("Hello, world!"))
	res, err := Tokenize(context.Background(), TokenizeConfig{Tokenizer: "gpt2", Inputs: []string{in}, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadShard(filepath.Join(out, "train_000000.bin"))
	if err != nil {
		t.Fatal(err)
	}
	want := []uint16{EndOfText, 15496, 995, EndOfText, 15496, 11, 995, 0}
	if !slices.Equal(got, want) {
		t.Errorf("train shard = %v, want %v", got, want)
	}
	if res.Documents != 2 || res.TrainTokens != len(want) || res.ValTokens != 0 || len(res.Shards) != 1 {
		t.Errorf("result = %+v", res)
	}
	if _, err := Tokenize(context.Background(), TokenizeConfig{Tokenizer: "gpt2", Inputs: []string{in}, Out: out}); err == nil {
		t.Error("a second run into the same directory succeeded; want an error: old shards would mix with new ones")
	}
}

// TestTokenizeSplit: validation is the first ValFraction of the tokens, and
// the shards load back as one dataset with both splits.
func TestTokenizeSplit(t *testing.T) {
	in, out := filepath.Join(t.TempDir(), "in.txt"), t.TempDir()
	writeFile(t, in, []byte("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:"))
	res, err := Tokenize(context.Background(), TokenizeConfig{Tokenizer: "gpt2", Inputs: []string{in}, Out: out, ValFraction: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	// 19 tokens: ceil(0.25*19) = 5 go to validation.
	if res.ValTokens != 5 || res.TrainTokens != 14 {
		t.Fatalf("split %d val + %d train, want 5 + 14", res.ValTokens, res.TrainTokens)
	}
	d, err := Load(out, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint16{EndOfText, 5962, 22307, 25, 198}; !slices.Equal(d.Val, want) {
		t.Errorf("val = %v, want %v", d.Val, want)
	}
	if d.Train[0] != 8421 || d.MaxToken != EndOfText {
		t.Errorf("train starts %v, max token %d", d.Train[:3], d.MaxToken)
	}
}

func TestTokenizeRefuses(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "x.bin")
	writeFile(t, bin, []byte("text"))
	for name, c := range map[string]TokenizeConfig{
		"unknown tokenizer": {Tokenizer: "gpt4", Out: dir},
		"val fraction 1":    {Tokenizer: "gpt2", Out: dir, ValFraction: 1},
		"NaN fraction":      {Tokenizer: "gpt2", Out: dir, ValFraction: nanFraction()},
		"missing input":     {Tokenizer: "gpt2", Out: dir, Inputs: []string{filepath.Join(dir, "nope")}},
		"shard input":       {Tokenizer: "gpt2", Out: t.TempDir(), Inputs: []string{bin}},
	} {
		if _, err := Tokenize(context.Background(), c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func nanFraction() float64 { z := 0.0; return z / z }

// TestGPT2RoundTripDefaultCorpus: Decode(Encode(x)) == x for files spread
// over the whole default corpus (every 40th, about 2 MB: the whole
// corpus takes a minute).
func TestGPT2RoundTripDefaultCorpus(t *testing.T) {
	root, err := DefaultTextPath()
	if err != nil {
		t.Skip(err)
	}
	files, _, err := walkText(root)
	if err != nil {
		t.Fatal(err)
	}
	var docs []textFile
	for i := 0; i < len(files); i += 40 {
		docs = append(docs, files[i])
	}
	tok := NewGPT2()
	ts, err := encodeAll(context.Background(), tok, docs, pieceBytes, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for _, d := range docs {
		b, err := os.ReadFile(d.path)
		if err != nil {
			t.Fatal(err)
		}
		want = append(append(want, "<|endoftext|>"...), b...)
	}
	got, err := tok.Decode(nil, ts)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Fatalf("round trip differs at byte %d of %d: got %q, want %q", i, len(want), got[i:min(i+40, len(got))], want[i:min(i+40, len(want))])
	}
	t.Logf("%d files, %d bytes, %d tokens", len(docs), len(want), len(ts))
}

// TestTokenizeCancelledAfterEncoding: a signal that comes once every
// document is encoded, as the shards are about to be written, still stops
// the run with nothing in --out, new or existing, and nothing beside it.
func TestTokenizeCancelledAfterEncoding(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in.txt")
	writeFile(t, in, []byte("Hello world"))
	for _, existing := range []bool{false, true} {
		parent := t.TempDir()
		out := filepath.Join(parent, "shards")
		if existing {
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		_, err := Tokenize(ctx, TokenizeConfig{Tokenizer: "gpt2", Inputs: []string{in}, Out: out, ValFraction: 0.5,
			Progress: func(done, total, _ int64) {
				if done == total {
					cancel()
				}
			}})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("existing --out %v: err = %v, want context.Canceled", existing, err)
		}
		if got := tree(t, parent); got != map[bool]string{false: "", true: "shards/"}[existing] {
			t.Errorf("existing --out %v: a cancelled run left %q", existing, got)
		}
	}
}

// TestTokenizeAllOrNothing: a shard that cannot be moved into --out takes
// back those moved before it, and the staging directory goes too.
func TestTokenizeAllOrNothing(t *testing.T) {
	in, out := filepath.Join(t.TempDir(), "in.txt"), t.TempDir()
	writeFile(t, in, []byte("Hello world"))
	// A directory is no shard to checkOut, but no file can be renamed over it.
	if err := os.Mkdir(filepath.Join(out, "train_000000.bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Tokenize(context.Background(), TokenizeConfig{Tokenizer: "gpt2", Inputs: []string{in}, Out: out, ValFraction: 0.5}); err == nil {
		t.Fatal("no error")
	}
	if got := tree(t, out); got != "train_000000.bin/" {
		t.Errorf("a failed run left %q in --out", got)
	}
}

// TestTokenizeProbesOutFirst: an --out that cannot be written fails before
// any document is encoded, as train's --out does.
func TestTokenizeProbesOutFirst(t *testing.T) {
	if fi, err := os.Stat("/proc/self"); err != nil || !fi.IsDir() {
		t.Skip("needs Linux's /proc, where no one may make a directory")
	}
	in := filepath.Join(t.TempDir(), "in.txt")
	writeFile(t, in, []byte("Hello world"))
	encoded := false
	_, err := Tokenize(context.Background(), TokenizeConfig{Tokenizer: "gpt2", Inputs: []string{in}, Out: "/proc/baton-shards",
		Progress: func(_, _, _ int64) { encoded = true }})
	if want := "tokenize: out /proc/baton-shards: cannot write in /proc: "; err == nil || !strings.HasPrefix(err.Error(), want) || encoded {
		t.Errorf("err = %v (after encoding: %v); want %q… before encoding", err, encoded, want)
	}
}

// tree lists the entries under dir, hidden ones too, a directory with a
// trailing slash, sorted and joined by spaces.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if e.IsDir() {
			rel += "/"
		}
		names = append(names, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(names, " ")
}

// TestTokenizeKeepsAnotherRunsShards: shards another tokenize put into
// --out while this run encoded (checkOut found it empty) are never
// replaced: this run fails, saying so, and takes back the shards it moved
// before, so that --out holds one run's data set, not a mix of two. An
// --out that did not exist and was made meanwhile is the same.
func TestTokenizeKeepsAnotherRunsShards(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in.txt")
	writeFile(t, in, []byte("Hello world, and hello again"))
	for _, existing := range []bool{true, false} {
		parent := t.TempDir()
		out := filepath.Join(parent, "shards")
		if existing {
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		theirs := []byte("the other run's shard")
		_, err := Tokenize(context.Background(), TokenizeConfig{Tokenizer: "gpt2", Inputs: []string{in}, Out: out, ValFraction: 0.5,
			Progress: func(done, total, _ int64) {
				if done == total { // the other run, which has no validation shard, finishes first
					if err := os.MkdirAll(out, 0o755); err != nil {
						t.Error(err)
					}
					writeFile(t, filepath.Join(out, "train_000000.bin"), theirs)
				}
			}})
		want := map[bool]string{true: out + "/train_000000.bin", false: out}[existing] + " is in the way (another tokenize writing into the same directory?)"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("existing --out %v: err = %v, want %q…", existing, err, want)
		}
		if got := tree(t, parent); got != "shards/ shards/train_000000.bin" {
			t.Errorf("existing --out %v: the run left %q, want the other run's shard alone", existing, got)
		}
		if got, _ := os.ReadFile(filepath.Join(out, "train_000000.bin")); !bytes.Equal(got, theirs) {
			t.Errorf("existing --out %v: the other run's shard was replaced", existing)
		}
	}
}

// TestTokenizeLongOut: an --out whose name is as long as a file system
// takes is written, though its staging directory beside it,
// "."+name+".tmp-<pid>", would be too long.
func TestTokenizeLongOut(t *testing.T) {
	in, parent := filepath.Join(t.TempDir(), "in.txt"), t.TempDir()
	writeFile(t, in, []byte("Hello world"))
	name := strings.Repeat("t", 250)
	if _, err := Tokenize(context.Background(), TokenizeConfig{Tokenizer: "gpt2", Inputs: []string{in}, Out: filepath.Join(parent, name)}); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, parent); got != name+"/ "+name+"/train_000000.bin" {
		t.Errorf("the run left %q", got)
	}
}

// TestEncodeAllCutsLargeDocumentsAlike: documents cut into pieces of about
// 64 bytes encode to the tokens of each one whole, for text made of what
// GPT-2's pre-tokenizer splits on (newlines before spaces, letters,
// quotes and contractions, CRLF, tabs, non-ASCII space, DEL, bytes that
// are not UTF-8) and for files spread over the default corpus.
func TestEncodeAllCutsLargeDocumentsAlike(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 8))
	atoms := []string{"\n", "\n", "\n\n", " ", "  ", "\t", "\r\n", "'s", "'ll", "x", "foo", "Bar", "42", "é", "\u00a0", "日本", "\x7f", "\xff", "{", "}", "(", "); ", "// ", "\n}", "\n'"}
	var docs []textFile
	for i := range 20 {
		var b []byte
		for len(b) < 3000 {
			b = append(b, atoms[r.IntN(len(atoms))]...)
		}
		path := filepath.Join(dir, fmt.Sprintf("doc%d.txt", i))
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, textFile{path, int64(len(b))})
	}
	if root, err := DefaultTextPath(); err == nil {
		files, _, err := walkText(root)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(files); i += 400 {
			docs = append(docs, files[i])
		}
	}
	tok := NewGPT2()
	whole, err := encodeAll(context.Background(), tok, docs, math.MaxInt, nil)
	if err != nil {
		t.Fatal(err)
	}
	cut, err := encodeAll(context.Background(), tok, docs, 64, nil)
	if err != nil {
		t.Fatal(err)
	}
	if i := firstDiff(cut, whole); i >= 0 {
		t.Fatalf("cut into pieces, %d tokens; whole, %d; they differ first at token %d", len(cut), len(whole), i)
	}
	if c, err := cuts(bytes.NewReader(bytes.Repeat([]byte("a\nb"), 100)), 300, 64); err != nil || len(c) < 3 || c[0] < 64 {
		t.Errorf("300 bytes cut at 64: cuts %v, %v; want 3 or more, the first at 64 or later", c, err)
	}
}

// TestNextCutAcrossWindows: the place nextCut finds is the same whatever
// the window it reads through, down to three bytes, where each place's
// three bytes straddle windows.
func TestNextCutAcrossWindows(t *testing.T) {
	text := []byte("ab\nc  \nd\n\ne\r\nf x\ny\nz")
	r := bytes.NewReader(text)
	for from := int64(2); from <= int64(len(text)); from++ {
		want, err := nextCut(r, int64(len(text)), from, make([]byte, 1<<10))
		if err != nil {
			t.Fatal(err)
		}
		for w := 3; w <= 8; w++ {
			if got, err := nextCut(r, int64(len(text)), from, make([]byte, w)); err != nil || got != want {
				t.Errorf("from %d through windows of %d bytes: %d, %v; want %d", from, w, got, err, want)
			}
		}
	}
}

// firstDiff is the first index where a and b differ, or -1 where they are equal.
func firstDiff(a, b []uint16) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}
