// Weights to start a run from: a Hugging Face GPT-2 directory (or a baton checkpoint), its names mapped and its vocabulary padded.

package model

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/nlpodyssey/safetensors"
)

// VocabMultiple is what a vocabulary is padded to a multiple of, as llm.c
// pads GPT-2's 50,257 tokens to 50,304 so that GPU matmuls tile evenly.
const VocabMultiple = 128

// PaddedVocab is v rounded up to a multiple of VocabMultiple.
func PaddedVocab(v int) int { return (v + VocabMultiple - 1) / VocabMultiple * VocabMultiple }

// hfPrefix is the prefix of GPT2LMHeadModel's state dict; GPT2Model's
// (openai-community/gpt2's model.safetensors) has none.
const hfPrefix = "transformer."

// hfSkipped says whether a stored tensor (its prefix removed) is no
// parameter: the causal-mask buffers older transformers saved, and the LM
// head, which is tied to wte.weight (decodeHFConfig refuses an untied one).
func hfSkipped(name string) bool {
	return strings.HasSuffix(name, ".attn.bias") && strings.HasPrefix(name, "h.") ||
		strings.HasSuffix(name, ".attn.masked_bias") || name == "lm_head.weight"
}

// LoadHF reads the weights of a GPT-2 directory to start training from:
// config.json with GPT2Config's keys and model.safetensors, as
// openai-community/gpt2 stores it, with or without the "transformer."
// prefix; a baton checkpoint is one too. The vocabulary is padded to
// PaddedVocab with zero rows, so a padded token is never predicted more
// than any other before training. The Checkpoint has no optimizer state or
// training state: whatever the directory holds beside the weights is not read.
func LoadHF(dir string) (*Checkpoint, error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no such directory; give a directory holding %s and %s (a Hugging Face GPT-2 model or a baton run)", dir, modelFile, configFile)
	}
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s: not a directory; give a directory holding %s and %s", dir, modelFile, configFile)
	}
	stored, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	params, err := readHFTensors(filepath.Join(dir, modelFile), stored)
	if err != nil {
		return nil, err
	}
	cfg := stored
	cfg.V = PaddedVocab(stored.V)
	if cfg.V != stored.V {
		wte := make([]float32, cfg.V*cfg.C) // rows past stored.V stay zero
		copy(wte, params["wte.weight"])
		params["wte.weight"] = wte
	}
	return &Checkpoint{Config: cfg, Params: params}, nil
}

// readHFTensors reads every parameter of c from path under its GPT-2 name,
// with or without the prefix, skipping what hfSkipped names; any other
// tensor is an error, as is a tensor of another shape (naming both).
func readHFTensors(path string, c Config) (map[string][]float32, error) {
	f, st, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want := c.AllTensors()
	// The buffers and an LM head may come beside the parameters: room for
	// a causal mask per layer and a second wte.
	limit := 8 + maxHeaderBytes + 4*(sumElems(want)+int64(c.L)*int64(c.MaxT)*int64(c.MaxT)+int64(c.V)*int64(c.C))
	if st.Size() > limit {
		return nil, fmt.Errorf("checkpoint %s: file is %d bytes, more than %v's tensors can take; it holds another model", path, st.Size(), c)
	}
	buf := make([]byte, st.Size())
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, fmt.Errorf("checkpoint %s: read: %w", path, err)
	}
	sf, err := safetensors.Deserialize(buf)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: not a valid safetensors file (%d bytes; truncated or corrupted): %w", path, len(buf), err)
	}
	stored, err := hfNames(path, sf.Names())
	if err != nil {
		return nil, err
	}
	out := make(map[string][]float32, len(want))
	for _, t := range want {
		name, ok := stored[t.Name]
		if !ok {
			return nil, fmt.Errorf("checkpoint %s: missing tensor %s; the file and config.json (%v) describe different models", path, t.Name, c)
		}
		tv, _ := sf.Tensor(name)
		if out[t.Name], err = tensorValues(path, tv, t, c); err != nil {
			return nil, err
		}
		delete(stored, t.Name)
	}
	if len(stored) > 0 {
		extra := make([]string, 0, len(stored))
		for _, name := range stored {
			extra = append(extra, name)
		}
		sort.Strings(extra)
		return nil, fmt.Errorf("checkpoint %s: unexpected tensor %s (of %d); config.json (%v) has no such parameter: the file holds another model", path, extra[0], len(extra), c)
	}
	return out, nil
}

// hfNames maps each parameter's GPT-2 name to the name it is stored under.
func hfNames(path string, names []string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	for _, name := range names {
		n := strings.TrimPrefix(name, hfPrefix)
		if hfSkipped(n) {
			continue
		}
		if prev, ok := out[n]; ok {
			return nil, fmt.Errorf("checkpoint %s: tensors %s and %s are the same parameter; keep one", path, prev, name)
		}
		out[n] = name
	}
	return out, nil
}
