// Tests of the train/validation split.

package data

import (
	"slices"
	"strings"
	"testing"
)

func TestSplitStream(t *testing.T) {
	for _, n := range []int{1, 19, 20, 1000, 20*splitChunk - 1, 20 * splitChunk, 41*splitChunk + 123} {
		all := seq(0, n)
		train, val, how := splitStream(slices.Clone(all))
		train2, val2, _ := splitStream(slices.Clone(all))
		if !slices.Equal(train, train2) || !slices.Equal(val, val2) {
			t.Fatalf("n=%d: split is not deterministic", n)
		}
		if len(train)+len(val) != n {
			t.Fatalf("n=%d: %d train + %d val tokens", n, len(train), len(val))
		}
		chunk := splitChunk
		if n < valEvery*splitChunk {
			chunk = max(n/valEvery, 1)
		}
		if !strings.Contains(how, "every 20th chunk") {
			t.Fatalf("how = %q", how)
		}
		// Rebuild the stream: chunk i comes from val iff i%20 == 19.
		var got []uint16
		for i := 0; len(train)+len(val) > 0; i++ {
			src := &train
			if i%valEvery == valEvery-1 {
				src = &val
			}
			m := min(chunk, len(*src))
			got = append(got, (*src)[:m]...)
			*src = (*src)[m:]
		}
		if !slices.Equal(got, all) {
			t.Fatalf("n=%d: train and val chunks do not interleave back into the stream", n)
		}
		if n >= 20 {
			_, v, _ := splitStream(slices.Clone(all))
			if frac := float64(len(v)) / float64(n); frac < 0.03 || frac > 0.06 {
				t.Fatalf("n=%d: validation is %.3f of the corpus, want about 0.05", n, frac)
			}
		}
	}
}

func TestLoadDeterministic(t *testing.T) {
	root, _ := textTree(t)
	a, err := Load(root, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(root, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Train, b.Train) || !slices.Equal(a.Val, b.Val) || !slices.Equal(a.Files, b.Files) {
		t.Fatal("two loads of the same tree differ")
	}
}

func TestCheckContext(t *testing.T) {
	root, _ := textTree(t) // about 2.1 KB: validation holds about 100 tokens
	d, err := Load(root, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Check(TextVocab, 64); err != nil {
		t.Fatal(err)
	}
	err = d.Check(TextVocab, 1024)
	want := "has only " // the message names the split, its size and T+1
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "need at least T+1 = 1025 for context 1024") || !strings.Contains(err.Error(), root) {
		t.Fatalf("error %v; want one naming %s, its token count and T+1", err, root)
	}
	if _, _, err := d.Loaders(TextVocab, 4, 1024, 1); err == nil {
		t.Fatal("Loaders accepted a corpus too short for T")
	}
	if err := d.Check(TextVocab, 0); err == nil {
		t.Fatal("Check accepted T = 0")
	}
}
