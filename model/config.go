// Package model describes a GPT-2 style decoder without computing anything:
// its configuration and presets, the parameter layout with GPT-2 tensor
// names, parameter/FLOP/memory estimates, and checkpoints.
//
// Main types: Config (the architecture), Tensor (one named parameter), Checkpoint.
package model

import (
	"fmt"
	"sort"
	"strings"

	"baton/internal/field"
)

// Config is the architecture of a GPT-2 style decoder: pre-LayerNorm blocks,
// causal multi-head attention, an MLP of width 4C with tanh-GELU, and an LM
// head tied to the token embedding.
type Config struct {
	V    int `json:"vocab_size"`  // vocabulary size (256 for byte-level text)
	MaxT int `json:"n_positions"` // length of the position table: the longest context
	C    int `json:"n_embd"`      // channels (model width)
	NH   int `json:"n_head"`      // attention heads; C must be divisible by NH
	L    int `json:"n_layer"`     // decoder blocks
}

// Presets are the named configurations; each comment says why it exists.
var Presets = map[string]Config{
	// tiny: the smallest model that still has every kind of layer, for tests.
	"tiny": {V: 256, MaxT: 16, C: 32, NH: 4, L: 2},
	// small: the default. Byte-level, about 1.6 M parameters, 8 blocks so it
	// splits evenly over 1, 2, 4 or 8 devices, and small enough that its loss
	// falls visibly within a minute on two CPU cores.
	"small": {V: 256, MaxT: 128, C: 128, NH: 4, L: 8},
	// gpt2-124m: GPT-2 small with the vocabulary padded to a multiple of 128
	// (50304, as llm.c does) so GPU matmuls tile evenly.
	"gpt2-124m": {V: 50304, MaxT: 1024, C: 768, NH: 12, L: 12},
	// gpt2-350m, gpt2-774m, gpt2-1558m: GPT-2 medium, large and XL, padded
	// alike; the models that need more than one GPU's memory, for plan and
	// for splits that must fit.
	"gpt2-350m":  {V: 50304, MaxT: 1024, C: 1024, NH: 16, L: 24},
	"gpt2-774m":  {V: 50304, MaxT: 1024, C: 1280, NH: 20, L: 36},
	"gpt2-1558m": {V: 50304, MaxT: 1024, C: 1600, NH: 25, L: 48},
}

// PresetNames lists the presets in a stable order, for help and errors.
func PresetNames() []string {
	names := make([]string, 0, len(Presets))
	for n := range Presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Preset returns the named preset or an error that lists the known ones.
func Preset(name string) (Config, error) {
	c, ok := Presets[name]
	if !ok {
		return Config{}, fmt.Errorf("model: unknown preset %q; choose one of %s", name, strings.Join(PresetNames(), ", "))
	}
	return c, nil
}

// Validate returns an error (a *field.Error) naming the first bad field and
// how to fix it.
func (c Config) Validate() error {
	positive := []struct {
		v           int
		name, field string // the architecture's name for it; the field that sets it
		set         string // how to set it, with field references
	}{
		{c.V, "vocab_size (V)", "model", "a checkpoint or preset with a vocabulary"},
		{c.MaxT, "n_positions (T)", "context", "{context}"},
		{c.C, "n_embd (C)", "width", "{width}"},
		{c.NH, "n_head (NH)", "heads", "{heads}"},
		{c.L, "n_layer (L)", "layers", "{layers}"},
	}
	for _, p := range positive {
		if p.v <= 0 {
			return field.Errorf(p.field, "model: %s is %d; it must be at least 1 (set "+p.set+")", p.name, p.v)
		}
	}
	if c.C%c.NH != 0 {
		return field.Errorf("heads", "model: n_embd (C=%d) is not divisible by n_head (NH=%d); choose {heads} that divides {width} (e.g. %d)", c.C, c.NH, largestDivisorAtMost(c.C, c.NH))
	}
	for _, m := range []struct {
		v, most     int
		name, field string
	}{
		{c.V, MaxVocab, "vocab_size (V)", "model"}, {c.MaxT, MaxContext, "n_positions (T)", "context"}, {c.L, MaxLayers, "n_layer (L)", "layers"},
	} {
		if m.v > m.most {
			return field.Errorf(m.field, "model: %s is %d; at most %d is supported (set {"+m.field+"})", m.name, m.v, m.most)
		}
	}
	// Buffers are indexed by int32 on GPUs: the largest tensors must stay
	// below 2^31 elements.
	const maxElems = 1 << 31
	for _, t := range []struct {
		name, shape, reduce string
		rows                int64
	}{
		{"wte.weight", fmt.Sprintf("vocab_size V=%d × n_embd C=%d", c.V, c.C), "{width} or the vocabulary", int64(c.V)},
		{"wpe.weight", fmt.Sprintf("n_positions T=%d × n_embd C=%d", c.MaxT, c.C), "{width} or {context}", int64(c.MaxT)},
		{"mlp.c_fc.weight", fmt.Sprintf("4·C=%d × n_embd C=%d", 4*c.C, c.C), "{width}", 4 * int64(c.C)},
	} {
		if t.rows*int64(c.C) >= maxElems {
			return field.Errorf("width", "model: %s (%s) would have %d elements, 2^31 or more; reduce "+t.reduce, t.name, t.shape, t.rows*int64(c.C))
		}
	}
	return nil
}

// Bounds on a model's sizes: beyond any model trained on a few devices, and
// small enough that no count, estimate or buffer size overflows.
const (
	MaxVocab      = 1 << 24
	MaxContext    = 1 << 20
	MaxLayers     = 1 << 14
	MaxStepTokens = 1 << 28 // tokens of one step: batch × context
)

// CheckContext returns an error when a run's context T does not fit the
// position table.
func (c Config) CheckContext(T int) error {
	if T <= 0 {
		return field.Errorf("context", "model: context T=%d; it must be at least 1 (set {context})", T)
	}
	if T > c.MaxT {
		return field.Errorf("context", "model: context T=%d is larger than the position table (n_positions=%d); use {context} %d or less", T, c.MaxT, c.MaxT)
	}
	return nil
}

// HeadSize is C/NH.
func (c Config) HeadSize() int { return c.C / c.NH }

func (c Config) String() string {
	return fmt.Sprintf("V=%d T=%d C=%d NH=%d L=%d", c.V, c.MaxT, c.C, c.NH, c.L)
}

func largestDivisorAtMost(n, k int) int {
	for d := k; d > 1; d-- {
		if n%d == 0 {
			return d
		}
	}
	return 1
}

// CUDAMaxHeadSize is the largest head (C/NH) the CUDA attention kernels'
// shared-memory tiles hold (kernels/cuda.MaxHeadSize; a test there keeps the
// two equal).
const CUDAMaxHeadSize = 128

// CheckCUDA refuses shapes the CUDA kernels cannot run, naming the limit,
// so that they fail before any work instead of with a wrong answer.
func (c Config) CheckCUDA() error {
	if hs := c.HeadSize(); hs > CUDAMaxHeadSize {
		return field.Errorf("heads", "model: head size n_embd/n_head = %d/%d = %d is larger than the CUDA attention kernels' limit of %d; use more {heads} (at least %d)",
			c.C, c.NH, hs, CUDAMaxHeadSize, (c.C+CUDAMaxHeadSize-1)/CUDAMaxHeadSize)
	}
	return nil
}
