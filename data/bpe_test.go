// Tests of the GPT-2 tokenizer: GPT-2's published ids, and exact round trips.

package data

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
)

// TestGPT2KnownEncodings pins ids that GPT-2's own encoder gives (the first
// line of llm.c's tinyshakespeare shard among them).
func TestGPT2KnownEncodings(t *testing.T) {
	tok := NewGPT2()
	for _, c := range []struct {
		text string
		want []uint16
	}{
		{"Hello world", []uint16{15496, 995}},
		{"Hello, world!", []uint16{15496, 11, 995, 0}},
		{"First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:",
			[]uint16{5962, 22307, 25, 198, 8421, 356, 5120, 597, 2252, 11, 3285, 502, 2740, 13, 198, 198, 3237, 25}},
		// At the end of the text the blank line is one token, 628.
		{" speak.\n\n", []uint16{2740, 13, 628}},
		{" gazed", []uint16{50255}},
		{"I'm", []uint16{40, 1101}},
		// A literal end-of-text marker in a file is ordinary text, as in
		// tiktoken's encode_ordinary: only the tokenizer inserts 50256.
		{"<|endoftext|>", []uint16{27, 91, 437, 1659, 5239, 91, 29}},
		// DEL, which the tokenizer library drops, is GPT-2's 221.
		{"a\x7fb", []uint16{64, 221, 65}},
		{"\x7f\x7f", []uint16{221, 221}},
	} {
		got, err := tok.Encode(nil, []byte(c.text))
		if err != nil {
			t.Fatalf("Encode(%q): %v", c.text, err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Encode(%q) = %v, want %v", c.text, got, c.want)
		}
	}
}

func TestGPT2DecodeEndOfText(t *testing.T) {
	got, err := NewGPT2().Decode(nil, []uint16{EndOfText, 15496, 995, EndOfText})
	if err != nil {
		t.Fatal(err)
	}
	if want := "<|endoftext|>Hello world<|endoftext|>"; string(got) != want {
		t.Errorf("Decode = %q, want %q", got, want)
	}
	if _, err := NewGPT2().Decode(nil, []uint16{GPT2Vocab}); err == nil {
		t.Errorf("Decode(%d) succeeded; want an error: it is a padding id", GPT2Vocab)
	}
}

// TestGPT2RoundTripBytes: bytes that are not UTF-8 survive too.
func TestGPT2RoundTripBytes(t *testing.T) {
	tok := NewGPT2()
	for _, s := range [][]byte{
		{0xff, 'a', 0xc3}, {0xe2, 0x82}, []byte("naïve 日本語 \xed\xa0\x80 ok"), {0}, []byte("  \n\t\r\n  x  "), []byte("del \x7f, \xff\x7f."),
	} {
		ids, err := tok.Encode(nil, s)
		if err != nil {
			t.Fatal(err)
		}
		back, err := tok.Decode(nil, ids)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back, s) {
			t.Errorf("Decode(Encode(%q)) = %q", s, back)
		}
	}
}

// BenchmarkGPT2EncodeWithDELs: text with a DEL every 242 bytes, which the
// tokenizer encodes around; its time per byte stays that of plain text
// as the text grows (it once read the rest of the text after every DEL).
func BenchmarkGPT2EncodeWithDELs(b *testing.B) {
	tok := NewGPT2()
	line := append(bytes.Repeat([]byte("the quick brown fox jumps "), 10)[:241], del)
	for _, n := range []int{1 << 18, 1 << 20} {
		text := bytes.Repeat(line, n/len(line))
		b.Run(fmt.Sprintf("%dKiB", n>>10), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			var dst []uint16
			var err error
			for b.Loop() {
				if dst, err = tok.Encode(dst[:0], text); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
