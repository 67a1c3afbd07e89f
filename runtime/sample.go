// Sampling text from a checkpoint, so a person can see what a model learned.

package runtime

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"

	"baton/internal/field"
	"baton/kernels/cpu"
	"baton/model"
	"baton/transformer"
)

// SampleConfig says how to generate.
type SampleConfig struct {
	Checkpoint  string // a checkpoint directory (or a run directory holding checkpoint/)
	Prompt      string
	Tokens      int     // bytes to generate
	Temperature float64 // 0 picks the most likely byte
	TopK        int     // sample among the k most likely (0: all)
	Seed        uint64
}

// Validate checks the settings; its error is a *field.Error naming the
// field to fix.
func (c SampleConfig) Validate() error {
	bad := ""
	switch {
	case c.Tokens < 0:
		bad = "tokens"
	case c.Temperature < 0:
		bad = "temperature"
	case c.TopK < 0:
		bad = "top-k"
	default:
		return nil
	}
	return field.Errorf(bad, "sample: {tokens}, {temperature} and {top-k} must not be negative")
}

// Sample loads a byte-level checkpoint on the CPU and writes the prompt and
// its continuation to w as they are generated.
func Sample(cfg SampleConfig, w io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	ck, err := model.Load(cfg.Checkpoint)
	if err != nil {
		return err
	}
	mc := ck.Config
	if mc.V != 256 {
		return fmt.Errorf("sample: the model's vocabulary is %d; sampling decodes byte-level models (vocab_size 256) only", mc.V)
	}
	stack, err := transformer.NewStack(cpu.New(), mc, transformer.Whole(mc), 1, mc.MaxT)
	if err != nil {
		return err
	}
	if err := scatter([]*Stage{{Stack: stack}}, &model.Checkpoint{Params: ck.Params}); err != nil {
		return err
	}
	ctx := []byte(cfg.Prompt)
	if len(ctx) == 0 {
		ctx = []byte{'\n'}
	}
	if _, err := w.Write([]byte(cfg.Prompt)); err != nil {
		return err
	}
	T, V := mc.MaxT, mc.V
	tokens := make([]int32, T)
	logits := make([]float32, T*V)
	probs := make([]float64, V)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	for range cfg.Tokens {
		window := ctx[max(0, len(ctx)-T):]
		for i := range tokens {
			tokens[i] = 0
			if i < len(window) {
				tokens[i] = int32(window[i])
			}
		}
		stack.Logits(tokens, logits)
		next := pick(logits[(len(window)-1)*V:len(window)*V], probs, cfg.Temperature, cfg.TopK, rng)
		ctx = append(ctx, byte(next))
		if _, err := w.Write([]byte{byte(next)}); err != nil {
			return err
		}
	}
	return nil
}

// pick draws a token from one position's logits (V) with temperature and top-k.
func pick(logits []float32, probs []float64, temp float64, topK int, rng *rand.Rand) int {
	best := 0
	for i, l := range logits {
		if l > logits[best] {
			best = i
		}
	}
	if temp == 0 {
		return best
	}
	cut := math.Inf(-1)
	if topK > 0 && topK < len(logits) {
		sorted := make([]float64, len(logits))
		for i, l := range logits {
			sorted[i] = float64(l)
		}
		slices.SortFunc(sorted, func(a, b float64) int { return cmp.Compare(b, a) })
		cut = sorted[topK-1]
	}
	var total float64
	for i, l := range logits {
		probs[i] = 0
		if float64(l) >= cut {
			probs[i] = math.Exp((float64(l) - float64(logits[best])) / temp)
		}
		total += probs[i]
	}
	u := rng.Float64() * total
	for i, p := range probs {
		if u -= p; u <= 0 {
			return i
		}
	}
	return best
}
