// Parameter layout: every tensor's GPT-2 name and shape, grouped by layer.

package model

import "fmt"

// Tensor is one named parameter. Shapes follow GPT-2's Hugging Face
// checkpoints: linear weights are (in, out), as in its Conv1D.
type Tensor struct {
	Name  string
	Shape []int
	Decay bool // AdamW weight decay applies (matrices, not biases or LayerNorm)
}

// Elems is the number of elements.
func (t Tensor) Elems() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// EmbeddingTensors are the first stage's parameters: token and position tables.
func (c Config) EmbeddingTensors() []Tensor {
	return []Tensor{
		{"wte.weight", []int{c.V, c.C}, true},
		{"wpe.weight", []int{c.MaxT, c.C}, true},
	}
}

// Block tensor indices, in the order BlockTensors lists them.
const (
	Ln1W = iota
	Ln1B
	QKVW
	QKVB
	AttProjW
	AttProjB
	Ln2W
	Ln2B
	FcW
	FcB
	FcProjW
	FcProjB
	NumBlockTensors
)

// BlockTensors are decoder block l's parameters.
func (c Config) BlockTensors(l int) []Tensor {
	C := c.C
	p := func(s string) string { return fmt.Sprintf("h.%d.%s", l, s) }
	return []Tensor{
		Ln1W:     {p("ln_1.weight"), []int{C}, false},
		Ln1B:     {p("ln_1.bias"), []int{C}, false},
		QKVW:     {p("attn.c_attn.weight"), []int{C, 3 * C}, true},
		QKVB:     {p("attn.c_attn.bias"), []int{3 * C}, false},
		AttProjW: {p("attn.c_proj.weight"), []int{C, C}, true},
		AttProjB: {p("attn.c_proj.bias"), []int{C}, false},
		Ln2W:     {p("ln_2.weight"), []int{C}, false},
		Ln2B:     {p("ln_2.bias"), []int{C}, false},
		FcW:      {p("mlp.c_fc.weight"), []int{C, 4 * C}, true},
		FcB:      {p("mlp.c_fc.bias"), []int{4 * C}, false},
		FcProjW:  {p("mlp.c_proj.weight"), []int{4 * C, C}, true},
		FcProjB:  {p("mlp.c_proj.bias"), []int{C}, false},
	}
}

// HeadTensors are the last stage's own parameters: the final LayerNorm. The
// LM head is tied to wte.weight, which the last stage holds a copy of.
func (c Config) HeadTensors() []Tensor {
	return []Tensor{
		{"ln_f.weight", []int{c.C}, false},
		{"ln_f.bias", []int{c.C}, false},
	}
}

// AllTensors lists every parameter once, in checkpoint order.
func (c Config) AllTensors() []Tensor {
	ts := c.EmbeddingTensors()
	for l := 0; l < c.L; l++ {
		ts = append(ts, c.BlockTensors(l)...)
	}
	return append(ts, c.HeadTensors()...)
}

// StageTensors are the parameters stage s holds, in the order its stack
// lays them out: the embeddings where it has them, its blocks', the head's,
// and on a head stage without the embeddings the tied LM head's own copy
// of wte.weight.
func (c Config) StageTensors(s Stage) []Tensor {
	var ts []Tensor
	if s.Embed {
		ts = append(ts, c.EmbeddingTensors()...)
	}
	for l := s.FirstLayer; l <= s.LastLayer; l++ {
		ts = append(ts, c.BlockTensors(l)...)
	}
	if s.Head {
		ts = append(ts, c.HeadTensors()...)
		if !s.Embed {
			ts = append(ts, c.EmbeddingTensors()[0])
		}
	}
	return ts
}

func sumElems(ts []Tensor) int64 {
	var n int64
	for _, t := range ts {
		n += int64(t.Elems())
	}
	return n
}

// NumParams counts every parameter once (the tied head adds none).
func (c Config) NumParams() int64 { return sumElems(c.AllTensors()) }

// EmbeddingParams, BlockParams and HeadParams count one layer's parameters.
func (c Config) EmbeddingParams() int64 { return sumElems(c.EmbeddingTensors()) }
func (c Config) BlockParams() int64     { return sumElems(c.BlockTensors(0)) }
func (c Config) HeadParams() int64      { return sumElems(c.HeadTensors()) }
