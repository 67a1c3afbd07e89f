// Sampling text from a checkpoint, so a person can see what a model learned.

package runtime

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"baton/internal/field"
	"baton/internal/words"
	"baton/kernels/cpu"
	"baton/model"
	"baton/transformer"
)

// SampleConfig says how to generate.
type SampleConfig struct {
	Checkpoint  string // a checkpoint directory (or a run directory holding checkpoint/)
	Prompt      string
	Tokens      int     // tokens to generate (bytes, for a byte-level model)
	Temperature float64 // 0 picks the most likely token
	TopK        int     // sample among the k most likely (0: all)
	TopP        float64 // then among the fewest most likely whose probability reaches it (1: all; 0: the most likely)
	Seed        uint64
	// IgnoreEOS goes on past GPT-2's end-of-text, which otherwise ends the
	// text as Hugging Face's generate ends it.
	IgnoreEOS bool
	// Warn, when set, is told what the user must know about the checkpoint
	// before the text: that it did not load and the previous one is used
	// (model.Checkpoint.Warnings).
	Warn func(msg string)
	// Notice, when set, is told why the text ended before Tokens.
	Notice func(msg string)
}

// Validate checks the settings; its error is a *field.Error naming the
// field to fix.
func (c SampleConfig) Validate() error {
	switch {
	case c.Tokens < 0:
		return field.Errorf("tokens", "sample: {tokens} is %d; it must not be negative", c.Tokens)
	case !(c.Temperature >= 0) || math.IsInf(c.Temperature, 0):
		return field.Errorf("temperature", "sample: {temperature} is %g; it must be a finite number of 0 or more (0: always the most likely token)", c.Temperature)
	case c.TopK < 0:
		return field.Errorf("top-k", "sample: {top-k} is %d; it must not be negative (0: all)", c.TopK)
	case !(c.TopP >= 0 && c.TopP <= 1):
		return field.Errorf("top-p", "sample: {top-p} is %g; it must be from 0 to 1 (1: all)", c.TopP)
	}
	return nil
}

// Sample loads a checkpoint of a byte-level or GPT-2-vocabulary model on
// the CPU and writes the prompt and its continuation to w as they are
// generated.
func Sample(cfg SampleConfig, w io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	ck, err := model.Load(cfg.Checkpoint)
	if err != nil {
		return err
	}
	if cfg.Warn != nil {
		for _, msg := range ck.Warnings {
			cfg.Warn(msg)
		}
	}
	mc := ck.Config
	text, err := codecFor(mc.V, ck.Tokens)
	if err != nil {
		return err
	}
	spec := transformer.Whole(mc)
	spec.Inference = true
	stack, err := transformer.NewStack(cpu.New(), mc, spec, 1, mc.MaxT)
	if err != nil {
		return err
	}
	if err := scatter([]*Stage{{Stack: stack}}, &model.Checkpoint{Params: ck.Params}, 0); err != nil {
		return err
	}
	return generate(cfg, stack, mc, text, w)
}

// generate writes the prompt and the cfg.Tokens tokens that stack (the
// whole model mc) predicts after it, decoded by text. The prompt goes out
// with the first token, so that a model whose scores are not finite prints
// nothing, rather than the prompt and NUL bytes. A GPT-2 model's
// end-of-text ends the text, unless cfg.IgnoreEOS.
//
// Each token is predicted from the last T tokens before it, T the model's
// context. Within the context each new token runs through a Decoder's
// cache, one row per matmul; past it every position moves, so each token
// needs a forward pass over the last T again.
func generate(cfg SampleConfig, stack *transformer.Stack, mc model.Config, text textCodec, w io.Writer) error {
	ctx, err := text.encode(nil, []byte(cfg.Prompt))
	if err != nil {
		return err
	}
	if len(ctx) == 0 {
		ctx = []uint16{text.start}
	}
	out := &charWriter{w: w, pending: []byte(cfg.Prompt)}
	T, V := mc.MaxT, mc.V
	if len(ctx) > T && cfg.Warn != nil {
		cfg.Warn(fmt.Sprintf("the prompt is %s, longer than the model's context of %d: each %s is predicted from the last %d only", words.Count(len(ctx), text.unit), T, text.unit, T))
	}
	dec, err := transformer.NewDecoder(stack)
	if err != nil {
		return err
	}
	logits := make([]float32, V)
	probs := make([]float64, text.n)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	var piece []byte
	for i := range cfg.Tokens {
		switch {
		case i > 0 && dec.Len() < dec.Cap():
			dec.Next(int32(ctx[len(ctx)-1]), logits)
		default:
			dec.Start(ids(ctx[max(0, len(ctx)-T):]), logits)
		}
		// Padding rows (from text.n up) are never text: they are not drawn.
		row := logits[:text.n]
		if !finite(row) {
			return fmt.Errorf("sample: the model's scores for the next %s are not finite numbers: its weights overflow (trained with too high a learning rate, or the checkpoint is damaged)", text.unit)
		}
		next := uint16(pick(row, probs, cfg.Temperature, cfg.TopK, cfg.TopP, rng))
		if text.eos && next == text.start && !cfg.IgnoreEOS {
			if cfg.Notice != nil {
				cfg.Notice(fmt.Sprintf("the model ended the text (%s) after %s", "<|endoftext|>", words.Count(i, text.unit)))
			}
			break
		}
		ctx = append(ctx, next)
		if piece, err = text.decode(piece[:0], ctx[len(ctx)-1:]); err != nil {
			return err
		}
		if err := out.write(piece); err != nil {
			return err
		}
	}
	return out.flush()
}

// ids widens tokens to the stack's int32 ids.
func ids(tokens []uint16) []int32 {
	out := make([]int32, len(tokens))
	for i, t := range tokens {
		out[i] = int32(t)
	}
	return out
}

func finite(xs []float32) bool {
	for _, x := range xs {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}
