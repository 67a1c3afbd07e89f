// GPT-2 byte-pair encoding: text to GPT-2 token ids and back, with the vocabulary embedded.

package data

import (
	"fmt"
	"sync"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer/codec"
)

const (
	// EndOfText is GPT-2's <|endoftext|> token: it starts every document of
	// a tokenized corpus, as in llm.c's data scripts.
	EndOfText = 50256
	// endOfTextText is how EndOfText decodes, as tiktoken decodes it.
	endOfTextText = "<|endoftext|>"
)

// GPT2 is GPT-2's byte-level BPE (tiktoken's r50k_base): ids 0..50255 are
// byte sequences, 50256 is EndOfText. It is safe for concurrent use.
type GPT2 struct {
	c      *codec.Codec
	byteID [256]uint16 // the token of each single byte
}

var (
	gpt2Once sync.Once
	gpt2     *GPT2
)

// NewGPT2 returns the GPT-2 tokenizer. The first call builds the vocabulary
// (about a tenth of a second); later calls share it.
func NewGPT2() *GPT2 {
	gpt2Once.Do(func() {
		t := &GPT2{c: codec.NewR50kBase()}
		// GPT-2's first 256 ids are the 256 single bytes, in its own order.
		for id := range 256 {
			s, err := t.c.Decode([]uint{uint(id)})
			if err != nil || len(s) != 1 {
				panic(fmt.Sprintf("data: r50k_base token %d is %q (%v), not one byte", id, s, err))
			}
			t.byteID[s[0]] = uint16(id)
		}
		gpt2 = t
	})
	return gpt2
}

// Encode appends the tokens of text to dst, as tiktoken's encode_ordinary
// does: a literal "<|endoftext|>" in text is ordinary text. The tokenizer
// splits Unicode text, so bytes that are not valid UTF-8 are each encoded
// as their single-byte token, which keeps Decode(Encode(x)) == x for any x;
// so is DEL (0x7F), which the tokenizer drops (tiktoken-go encodes "a\x7fb"
// as "ab"). GPT-2 merges no pair with either, so each is its own token as
// in GPT-2; only the text beside one may be split otherwise than GPT-2's
// pattern would ("\x7f's" gives DEL, "'s" where GPT-2 gives DEL, "'", "s").
func (t *GPT2) Encode(dst []uint16, text []byte) ([]uint16, error) {
	for len(text) > 0 {
		n := encodablePrefix(text)
		if n > 0 {
			ids, _, err := t.c.Encode(string(text[:n]))
			if err != nil {
				return dst, fmt.Errorf("data: GPT-2 tokenizer: %v", err)
			}
			for _, id := range ids {
				dst = append(dst, uint16(id))
			}
			text = text[n:]
			continue
		}
		dst = append(dst, t.byteID[text[0]])
		text = text[1:]
	}
	return dst, nil
}

// del is the byte the tokenizer drops (Encode).
const del = 0x7f

// encodablePrefix is the length of the longest prefix of b that is valid
// UTF-8 without a DEL: what the tokenizer encodes whole. It reads no
// further than that prefix, so that Encode, calling it after each DEL or
// invalid byte, reads its text once.
func encodablePrefix(b []byte) int {
	n := 0
	for n < len(b) {
		if c := b[n]; c < utf8.RuneSelf {
			if c == del {
				break
			}
			n++
			continue
		}
		r, size := utf8.DecodeRune(b[n:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		n += size
	}
	return n
}

// Decode appends the bytes of tokens to dst. A token outside the vocabulary
// is an error naming it.
func (t *GPT2) Decode(dst []byte, tokens []uint16) ([]byte, error) {
	ids := make([]uint, 0, len(tokens))
	flush := func() error {
		if len(ids) == 0 {
			return nil
		}
		s, err := t.c.Decode(ids)
		if err != nil {
			return fmt.Errorf("data: GPT-2 tokenizer: %v", err)
		}
		dst = append(dst, s...)
		ids = ids[:0]
		return nil
	}
	for _, tok := range tokens {
		switch {
		case tok == EndOfText:
			if err := flush(); err != nil {
				return dst, err
			}
			dst = append(dst, endOfTextText...)
		case int(tok) >= GPT2Vocab:
			return dst, fmt.Errorf("data: token %d is not in GPT-2's vocabulary of %d", tok, GPT2Vocab)
		default:
			ids = append(ids, uint(tok))
		}
	}
	return dst, flush()
}
