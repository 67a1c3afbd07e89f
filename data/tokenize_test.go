// Tests of Tokenize: the shards it writes, its split, and the round trip over the default corpus.

package data

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
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
	ts, err := encodeAll(context.Background(), tok, docs, nil)
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
