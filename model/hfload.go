// Weights to start a run from: a Hugging Face GPT-2 directory or a baton run or checkpoint (its .old after an interrupted save), names mapped and the vocabulary padded.

package model

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
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
func LoadHF(dir string) (*Checkpoint, error) { return loadHF(dir, nil) }

// loadHF is LoadHF keeping the tensors keep chooses (nil: all).
func loadHF(dir string, keep Keep) (*Checkpoint, error) {
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
	stored, tokens, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	var kept func(string) bool
	if keep != nil {
		padded := stored // the model a run starts from them is
		padded.V = PaddedVocab(stored.V)
		kept = keep(padded, nil)
	}
	params, err := readTensors(dir, modelFile, modelIndex, stored.AllTensors(), stored, hfStored, readHFTensors, kept)
	if err != nil {
		return nil, err
	}
	return padVocab(&Checkpoint{Config: stored, Params: params, Tokens: tokens}), nil
}

// padVocab pads ck's vocabulary to PaddedVocab with zero rows of
// wte.weight, where ck holds it (a load that keeps some tensors may not).
func padVocab(ck *Checkpoint) *Checkpoint {
	v := PaddedVocab(ck.Config.V)
	if v == ck.Config.V {
		return ck
	}
	if stored, ok := ck.Params["wte.weight"]; ok {
		wte := make([]float32, v*ck.Config.C) // rows past the stored ones stay zero
		copy(wte, stored)
		ck.Params["wte.weight"] = wte
	}
	ck.Config.V = v
	return ck
}

// runCheckpoint is where a baton run directory keeps its checkpoint, as
// runtime.CheckpointDir names it.
const runCheckpoint = "checkpoint"

// HasRunCheckpoint says whether the run directory dir holds a checkpoint,
// or only the <checkpoint>.old an interrupted save leaves, which Load reads.
func HasRunCheckpoint(dir string) bool {
	ck := filepath.Join(dir, runCheckpoint)
	for _, d := range []string{ck, ck + oldSuffix} {
		if _, err := os.Stat(d); err == nil {
			return true
		}
	}
	return false
}

// weightsDir is the directory holding dir's weights: a run directory's
// checkpoint (HasRunCheckpoint); else dir itself.
func weightsDir(dir string) string {
	if HasRunCheckpoint(dir) {
		return filepath.Join(dir, runCheckpoint)
	}
	return dir
}

// LoadWeights reads the weights in dir to start a run from or to hand to
// a Go program: a baton run directory, a checkpoint directory or any GPT-2
// directory LoadHF reads, the vocabulary padded as LoadHF pads it. A
// checkpoint that is missing or does not load falls back to the <dir>.old an
// interrupted save leaves, with Load's warning naming the step lost. Only
// Config, Params, Tokens and Warnings are set.
func LoadWeights(dir string) (*Checkpoint, error) { return LoadWeightsKeeping(dir, nil) }

// LoadWeightsKeeping is LoadWeights keeping only the tensors keep chooses
// for the model it reads (with no training state), as a rank keeps its own
// stages' (LoadResumeKeeping).
func LoadWeightsKeeping(dir string, keep Keep) (*Checkpoint, error) {
	dir = weightsDir(dir)
	ck, err := loadHF(dir, keep)
	if _, serr := os.Stat(dir + oldSuffix); err == nil || serr != nil || hfNamed(dir) {
		return ck, err
	}
	if ck, err = load(dir, false, keep); err != nil { // falls back to <dir>.old, as Load does
		return nil, err
	}
	return padVocab(&Checkpoint{Config: ck.Config, Params: ck.Params, Tokens: ck.Tokens, Warnings: ck.Warnings}), nil
}

// WeightsConfig is the model LoadWeights(dir) reads, from config.json alone
// (the <dir>.old's where dir's does not read), so that a model's sizes can
// be checked before its tensors are read.
func WeightsConfig(dir string) (Config, error) {
	dir = weightsDir(dir)
	c, _, err := readConfig(dir)
	if err != nil {
		if c, _, err = readConfig(dir + oldSuffix); err != nil {
			return Config{}, err
		}
	}
	c.V = PaddedVocab(c.V)
	return c, nil
}

// hfNamed says whether dir's model.safetensors (or its index) names a
// tensor as transformers saves it and baton never does: under the
// "transformer." prefix, or a causal-mask buffer. (A stray lm_head.weight
// alone is a damaged checkpoint's, as Load reports it.)
func hfNamed(dir string) bool {
	for _, name := range storedNames(dir) {
		if n := strings.TrimPrefix(name, hfPrefix); n != name || hfSkipped(n) && n != "lm_head.weight" {
			return true
		}
	}
	return false
}

// storedNames are the tensor names that dir's shard index lists or, where
// it has none, that its model.safetensors's header holds; nil where
// neither reads.
func storedNames(dir string) []string {
	if raw, err := readCapped(filepath.Join(dir, modelIndex), maxIndexBytes); err == nil {
		var ix shardIndex
		if json.Unmarshal(raw, &ix) != nil {
			return nil
		}
		return slices.Collect(maps.Keys(ix.WeightMap))
	}
	f, _, err := openFile(filepath.Join(dir, modelFile))
	if err != nil {
		return nil
	}
	defer f.Close()
	var n uint64
	if err := binary.Read(f, binary.LittleEndian, &n); err != nil || n > maxHeaderBytes {
		return nil
	}
	header := make([]byte, n)
	if _, err := io.ReadFull(f, header); err != nil {
		return nil
	}
	var tensors map[string]json.RawMessage
	if json.Unmarshal(header, &tensors) != nil {
		return nil
	}
	return slices.Collect(maps.Keys(tensors))
}

// readHFTensors reads want's tensors (parameters of c) from path under
// their GPT-2 names, with or without the prefix, skipping what hfSkipped
// names; any other tensor is an error, as is a tensor of another shape
// (naming both).
func readHFTensors(path string, want []Tensor, c Config) (map[string][]float32, error) {
	f, st, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
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
		n, ok := hfStored(name)
		if !ok {
			continue
		}
		if prev, ok := out[n]; ok {
			return nil, fmt.Errorf("checkpoint %s: tensors %s and %s are the same parameter; keep one", path, prev, name)
		}
		out[n] = name
	}
	return out, nil
}
