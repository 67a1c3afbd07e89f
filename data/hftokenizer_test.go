// The rebuilt Hugging Face tokenizer files: GPT-2's published ids and first merges, and a byte-pair encoder that reads only the files encodes as the embedded tokenizer does.

package data

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestTokenizerFilesAreGPT2s(t *testing.T) {
	files, err := NewGPT2().TokenizerFiles(64)
	if err != nil {
		t.Fatal(err)
	}
	var config map[string]any
	if err := json.Unmarshal(files["tokenizer_config.json"], &config); err != nil || config["model_max_length"] != 64.0 {
		t.Errorf("tokenizer_config.json: %v, %v; want model_max_length 64, the model's positions", config, err)
	}
	var vocab map[string]int
	if err := json.Unmarshal(files["vocab.json"], &vocab); err != nil {
		t.Fatalf("vocab.json: %v", err)
	}
	for text, id := range map[string]int{"Hello": 15496, "Ġworld": 995, "!": 0, "<|endoftext|>": 50256, "Ġt": 256, "Ċ": 198} {
		if vocab[text] != id {
			t.Errorf("vocab.json[%q] = %d, want %d", text, vocab[text], id)
		}
	}
	if len(vocab) != GPT2Vocab {
		t.Errorf("vocab.json has %d tokens, want %d", len(vocab), GPT2Vocab)
	}
	lines := strings.Split(strings.TrimSuffix(string(files["merges.txt"]), "\n"), "\n")
	if want := []string{"#version: 0.2", "Ġ t", "Ġ a", "h e"}; !slices.Equal(lines[:4], want) {
		t.Errorf("merges.txt begins %q, want %q", lines[:4], want)
	}
	if len(lines) != 1+EndOfText-256 {
		t.Errorf("merges.txt has %d merges, want %d", len(lines)-1, EndOfText-256)
	}
	// A byte-pair encoder that knows only the two files, as a reader of them would.
	merges := map[[2]string]int{}
	for r, l := range lines[1:] {
		a, b, _ := strings.Cut(l, " ")
		merges[[2]string{a, b}] = r
	}
	encode := func(word string) []int {
		parts := strings.Split(tokenText(word), "")
		for {
			best, at := len(merges), -1
			for i := 0; i+1 < len(parts); i++ {
				if r, ok := merges[[2]string{parts[i], parts[i+1]}]; ok && r < best {
					best, at = r, i
				}
			}
			if at < 0 {
				break
			}
			parts = append(parts[:at], append([]string{parts[at] + parts[at+1]}, parts[at+2:]...)...)
		}
		ids := make([]int, len(parts))
		for i, p := range parts {
			ids[i] = vocab[p]
		}
		return ids
	}
	for _, word := range []string{"Hello", " world", " tokenization", " Pipelines", " über", " 12345", "\n\n", " baton"} {
		want, err := NewGPT2().Encode(nil, []byte(word))
		if err != nil {
			t.Fatal(err)
		}
		got := encode(word)
		if len(got) != len(want) {
			t.Errorf("%q: the files encode %v, the tokenizer %v", word, got, want)
			continue
		}
		for i := range got {
			if got[i] != int(want[i]) {
				t.Errorf("%q: the files encode %v, the tokenizer %v", word, got, want)
				break
			}
		}
	}
}
