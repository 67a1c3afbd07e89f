// Dataset: loaded tokens with their split and origin, the Load entry point, and checks against a model.

package data

import (
	"baton/internal/field"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const (
	// TextVocab is the vocabulary of byte-level text: one token per byte value.
	TextVocab = 256
	// GPT2Vocab is the vocabulary assumed for llm.c shards, which hold GPT-2 tokens.
	GPT2Vocab = 50257
	// DefaultTextLimit bounds how much text is loaded by default: 16 MiB is
	// enough for a small byte-level model to learn from and loads in well
	// under a second.
	DefaultTextLimit = 16 << 20
)

// Format says what kind of source a Dataset came from.
type Format string

const (
	Text   Format = "text"         // byte-level text, one token per byte
	Shards Format = "llm.c shards" // uint16 tokens from llm.c .bin files
)

// Dataset is a loaded corpus split into training and validation tokens.
// Train and Val never share a token position of the source.
type Dataset struct {
	Source   string   // the path as given (or the default corpus path)
	Format   Format   // Text or Shards
	Files    []string // files read, in the order their tokens appear
	Train    []uint16 // training tokens
	Val      []uint16 // validation tokens
	V        int      // vocabulary size: TextVocab or GPT2Vocab
	MaxToken int      // largest token seen; must be below the model's V
	Split    string   // how Train and Val were separated, for people
	Subset   string   // how files were sampled under a byte limit; "" if all were read
	Warnings []string // doubts about the data that do not stop training, for the run to print
}

// Load reads the corpus at path and splits it. An empty path means the
// default corpus (DefaultTextPath). A .bin file, a glob, or a directory that
// holds .bin files is read as llm.c shards; any other file or directory as
// byte-level text, of which at most limit bytes are read (limit <= 0: no limit).
func Load(path string, limit int64) (*Dataset, error) {
	if path == "" {
		p, err := DefaultTextPath()
		if err != nil {
			return nil, err
		}
		return LoadText(p, limit)
	}
	shards, err := isShards(path)
	switch {
	case err != nil:
		return nil, err
	case shards:
		return LoadShards(path)
	}
	return LoadText(path, limit)
}

// VocabOf is the vocabulary of the tokens Load(path) reads, from the path
// alone (what Load's Dataset.V will be): GPT2Vocab for llm.c shards,
// TextVocab for text; TextVocab where the path does not load (Load then
// says why).
func VocabOf(path string) int {
	if shards, err := isShards(path); err == nil && shards {
		return GPT2Vocab
	}
	return TextVocab
}

// isShards says whether Load reads path as llm.c shards: a glob of them, a
// directory holding .bin files, or a .bin file; else it is text ("" is the
// default corpus, text).
func isShards(path string) (bool, error) {
	if path == "" {
		return false, nil
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil && isGlob(path):
		return true, nil
	case err != nil:
		return false, missing(path, err)
	case fi.IsDir():
		bins, err := binFiles(path)
		return len(bins) > 0, err
	}
	return strings.EqualFold(filepath.Ext(path), ".bin"), nil
}

// missing turns a failed stat into an error that names the path and the fix.
func missing(path string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return field.Errorf("data", "{data} %s does not exist; give a text file, a directory of text files, or llm.c .bin shards", path)
	}
	return field.Errorf("data", "{data}: %v", err)
}

// Check reports whether a model with vocabulary V and context T can train on
// d: both splits must hold at least one sequence of T+1 tokens, and every
// token must be below V.
func (d *Dataset) Check(V, T int) error {
	if T < 1 {
		return fmt.Errorf("data: context T = %d; it must be at least 1", T)
	}
	for _, s := range []struct {
		name   string
		tokens []uint16
	}{{"training", d.Train}, {"validation", d.Val}} {
		if len(s.tokens) < T+1 {
			more := ""
			if s.name == "validation" && d.Format == Shards {
				more = ", or tokenize again with a larger --val-fraction" // baton tokenize's flag, not this command's
			}
			if d.Subset != "" { // the limit, not the corpus, is what is short
				return field.Errorf("data-limit", "data: %s has only %d %s tokens (read under {data-limit}: %s); need at least T+1 = %d for {context} %d (raise {data-limit}, 0 for all of it, or use a smaller {context})",
					d.Source, len(s.tokens), s.name, d.Subset, T+1, T)
			}
			return field.Errorf("context", "data: %s has only %d %s tokens; need at least T+1 = %d for {context} %d (use a larger corpus or a smaller {context}%s)",
				d.Source, len(s.tokens), s.name, T+1, T, more)
		}
	}
	switch {
	case d.MaxToken < V:
	case d.MaxToken >= GPT2Vocab: // no preset is larger, nor any tokenizer baton writes with
		return field.Errorf("data", "data: %s holds token %d, past GPT-2's ids (0 to %d) and the model's vocabulary of %d: it was written with another tokenizer, or is damaged; write shards with `baton tokenize`",
			d.Source, d.MaxToken, GPT2Vocab-1, V)
	case d.MaxToken > 255:
		return field.Errorf("model", "data: %s holds GPT-2's tokens (up to %d) but the model's vocabulary is %d; use {model} gpt2-124m or another gpt2- preset, made as small as a run needs with {layers}, {width} and {heads}",
			d.Source, d.MaxToken, V)
	default:
		return field.Errorf("model", "data: %s holds token %d but the model's vocabulary is %d; use a model with V > %d", d.Source, d.MaxToken, V, d.MaxToken)
	}
	return nil
}

// Loaders checks d against (V, T) and returns its training and validation
// loaders for batches of B sequences.
func (d *Dataset) Loaders(V, B, T int, seed uint64) (*TrainLoader, *ValLoader, error) {
	if err := d.Check(V, T); err != nil {
		return nil, nil, err
	}
	tl, err := NewTrainLoader(d.Train, B, T, seed)
	if err != nil {
		return nil, nil, err
	}
	vl, err := NewValLoader(d.Val, B, T)
	if err != nil {
		return nil, nil, err
	}
	return tl, vl, nil
}

// maxToken is the largest token in ts (0 for none).
func maxToken(ts []uint16) int {
	var m uint16
	for _, t := range ts {
		m = max(m, t)
	}
	return int(m)
}
