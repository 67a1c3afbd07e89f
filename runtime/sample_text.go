// Text in and out of sampling: the prompt to tokens, tokens to bytes written whole characters at a time.

package runtime

import (
	"fmt"
	"io"
	"unicode/utf8"

	"baton/data"
	"baton/model"
)

// textCodec is how a model's tokens are text.
type textCodec struct {
	n      int    // tokens that are text; ids from n up are padding, never sampled
	unit   string // what a token is, for messages: "byte" or "token"
	start  uint16 // the context of an empty prompt
	eos    bool   // start also ends a text (GPT-2's end-of-text); a byte has no such meaning
	encode func(dst []uint16, text []byte) ([]uint16, error)
	decode func(dst []byte, tokens []uint16) ([]byte, error)
}

// codecFor picks the codec of a model of vocabulary V whose checkpoint says
// its ids are tokens (model.Checkpoint.Tokens): bytes, or GPT-2's BPE; where
// it does not say (a Hugging Face model, an older baton checkpoint), bytes
// for 256 and GPT-2's BPE for GPT-2's 50257 tokens, padded (llm.c pads to
// 50304) or not. A byte-level model may have a GPT-2-sized vocabulary
// (gpt2-124m trained on text): its ids past 255 are never sampled.
func codecFor(V int, tokens string) (textCodec, error) {
	switch {
	case tokens == model.TokensBytes && V >= data.TextVocab, tokens == "" && V == data.TextVocab:
		return textCodec{n: data.TextVocab, unit: "byte", start: '\n', encode: encodeBytes, decode: decodeBytes}, nil
	case tokens != model.TokensBytes && V >= data.GPT2Vocab:
		// Sampling starts from end-of-text, as GPT-2's unconditional samples do.
		tok := data.NewGPT2()
		return textCodec{n: data.GPT2Vocab, unit: "token", start: data.EndOfText, eos: true, encode: tok.Encode, decode: tok.Decode}, nil
	}
	return textCodec{}, fmt.Errorf("sample: the model's vocabulary is %d, and %s; sampling knows byte-level models (256 or more) and GPT-2's tokens (%d, or more with padding)", V, tokensName(tokens), data.GPT2Vocab)
}

// tokensName says what a checkpoint's config.json says its tokens are, for messages.
func tokensName(tokens string) string {
	switch tokens {
	case model.TokensBytes:
		return "its config.json says its ids are bytes"
	case model.TokensGPT2:
		return "its config.json says its ids are GPT-2's tokens"
	}
	return "its config.json does not say what its ids are"
}

func encodeBytes(dst []uint16, text []byte) ([]uint16, error) {
	for _, b := range text {
		dst = append(dst, uint16(b))
	}
	return dst, nil
}

func decodeBytes(dst []byte, tokens []uint16) ([]byte, error) {
	for _, t := range tokens {
		dst = append(dst, byte(t))
	}
	return dst, nil
}

// charWriter writes bytes to w whole UTF-8 characters at a time: a token
// may end inside a character (GPT-2 splits some characters over several
// tokens), and a reader that decodes each write on its own (a terminal
// widget, a log line) would show the halves as two broken characters.
// Bytes are written unchanged; only their grouping into writes differs.
type charWriter struct {
	w       io.Writer
	pending []byte
}

// write queues b and writes all of the queue but an unfinished character.
func (c *charWriter) write(b []byte) error {
	c.pending = append(c.pending, b...)
	n := len(c.pending) - unfinished(c.pending)
	if n == 0 {
		return nil
	}
	_, err := c.w.Write(c.pending[:n])
	c.pending = append(c.pending[:0], c.pending[n:]...)
	return err
}

// flush writes what is queued, finished or not.
func (c *charWriter) flush() error {
	_, err := c.w.Write(c.pending)
	c.pending = c.pending[:0]
	return err
}

// unfinished is the length of the start of a UTF-8 character that b ends
// with and that more bytes could complete (0 if none).
func unfinished(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return len(b) - i
			}
			return 0
		}
	}
	return 0
}
