// GPT-2's tokenizer as Hugging Face stores it (vocab.json, merges.txt), rebuilt from the embedded vocabulary, for checkpoints that transformers loads with their tokenizer.

package data

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"sync"
)

// byteRunes is GPT-2's bytes_to_unicode: each byte as a printable rune, so
// that byte-level tokens can be written as text. Printable Latin-1 bytes
// stand for themselves; the others take the runes from 256 on, in order.
var byteRunes = func() [256]rune {
	var out [256]rune
	n := 0
	for b := range 256 {
		if b >= '!' && b <= '~' || b >= 0xa1 && b <= 0xac || b >= 0xae {
			out[b] = rune(b)
		} else {
			out[b] = rune(256 + n)
			n++
		}
	}
	return out
}()

// tokenText writes a token's bytes as GPT-2's files do.
func tokenText(b string) string {
	var sb strings.Builder
	for i := 0; i < len(b); i++ {
		sb.WriteRune(byteRunes[b[i]])
	}
	return sb.String()
}

var (
	hfOnce  sync.Once
	hfFiles map[string][]byte // vocab.json and merges.txt, the same for every model
	hfErr   error
)

// TokenizerFiles are GPT-2's tokenizer files as Hugging Face's
// GPT2Tokenizer reads them from a model directory: vocab.json (each token's
// text and id), merges.txt (the merges in rank order) and
// tokenizer_config.json, whose model_max_length is maxLength, the model's
// positions (n_positions), so that truncation gives sequences it can take.
// They are rebuilt from the embedded vocabulary, whose ids are the merges'
// ranks: a token's merge is the last step of encoding its bytes with the
// ranks below its own, which leaves two parts.
func (t *GPT2) TokenizerFiles(maxLength int) (map[string][]byte, error) {
	hfOnce.Do(func() { hfFiles, hfErr = t.buildTokenizerFiles() })
	if hfErr != nil {
		return nil, hfErr
	}
	config, _ := json.MarshalIndent(map[string]any{
		"tokenizer_class": "GPT2Tokenizer", "model_max_length": maxLength, "add_prefix_space": false,
		"bos_token": endOfTextText, "eos_token": endOfTextText, "unk_token": endOfTextText,
	}, "", "  ")
	files := maps.Clone(hfFiles)
	files["tokenizer_config.json"] = append(config, '\n')
	return files, nil
}

func (t *GPT2) buildTokenizerFiles() (map[string][]byte, error) {
	pieces := make([]string, EndOfText)
	rank := make(map[string]int, EndOfText)
	for id := range EndOfText {
		s, err := t.c.Decode([]uint{uint(id)})
		if err != nil {
			return nil, fmt.Errorf("data: GPT-2 token %d: %v", id, err)
		}
		pieces[id], rank[s] = s, id
	}
	var vocab bytes.Buffer
	vocab.WriteByte('{')
	for id, p := range pieces {
		key, _ := json.Marshal(tokenText(p))
		fmt.Fprintf(&vocab, "%s: %d, ", key, id)
	}
	fmt.Fprintf(&vocab, "%q: %d}", endOfTextText, EndOfText)
	var merges bytes.Buffer
	merges.WriteString("#version: 0.2\n")
	for id := 256; id < EndOfText; id++ {
		a, b, ok := lastMerge(pieces[id], rank, id)
		if !ok {
			return nil, fmt.Errorf("data: GPT-2 token %d (%q) is not one merge of two tokens below it", id, pieces[id])
		}
		fmt.Fprintf(&merges, "%s %s\n", tokenText(a), tokenText(b))
	}
	return map[string][]byte{"vocab.json": vocab.Bytes(), "merges.txt": merges.Bytes()}, nil
}

// lastMerge encodes s by byte-pair merges of ranks below limit, lowest
// rank first, and returns the two parts left, if two are left.
func lastMerge(s string, rank map[string]int, limit int) (a, b string, ok bool) {
	parts := make([]string, len(s))
	for i := range parts {
		parts[i] = s[i : i+1]
	}
	for len(parts) > 2 {
		best, at := limit, -1
		for i := 0; i+1 < len(parts); i++ {
			if r, ok := rank[parts[i]+parts[i+1]]; ok && r < best {
				best, at = r, i
			}
		}
		if at < 0 {
			return "", "", false
		}
		parts = append(parts[:at], append([]string{parts[at] + parts[at+1]}, parts[at+2:]...)...)
	}
	if len(parts) != 2 {
		return "", "", false
	}
	return parts[0], parts[1], true
}
