// Tests of generation: the cache changes no token, within the context and past it; GPT-2's end-of-text ends the text.

package runtime

import (
	"bytes"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"baton/data"
	"baton/kernels/cpu"
	"baton/model"
	"baton/transformer"
)

// TestSampleCachedEqualsForward: text sampled from a byte-level model,
// three contexts long, is the text that a forward pass over the last T
// bytes before each byte gives, with the same draws (as sampling did
// before it had a cache): the cache within the context, and a fresh pass
// past it, pick the same bytes. The model's weights are random and large,
// and the draws at temperature 1, so that what it picks depends on every
// byte it sees (a briefly trained model's greedy text repeats one byte).
func TestSampleCachedEqualsForward(t *testing.T) {
	mc := model.Presets["tiny"]
	r := rand.New(rand.NewPCG(8, 9))
	ck := &model.Checkpoint{Config: mc, Params: map[string][]float32{}, Tokens: model.TokensBytes}
	for _, ts := range mc.AllTensors() {
		v := make([]float32, ts.Elems())
		for i := range v {
			v[i] = float32(r.NormFloat64() * 0.3)
		}
		ck.Params[ts.Name] = v
	}
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := model.Save(dir, ck); err != nil {
		t.Fatal(err)
	}
	n := 3 * mc.MaxT
	var got bytes.Buffer
	if err := Sample(SampleConfig{Checkpoint: dir, Prompt: "func", Tokens: n, Temperature: 1, TopP: 1, Seed: 4}, &got); err != nil {
		t.Fatal(err)
	}

	stack, err := transformer.NewStack(cpu.New(), mc, transformer.Whole(mc), 1, mc.MaxT)
	if err != nil {
		t.Fatal(err)
	}
	if err := scatter([]*Stage{{Stack: stack}}, &model.Checkpoint{Params: ck.Params}, 0); err != nil {
		t.Fatal(err)
	}
	text := []byte("func")
	tokens := make([]int32, mc.MaxT)
	logits := make([]float32, mc.MaxT*mc.V)
	probs := make([]float64, data.TextVocab)
	rng := rand.New(rand.NewPCG(4, 0x5eed))
	for range n {
		window := text[max(0, len(text)-mc.MaxT):]
		clear(tokens)
		for i, b := range window {
			tokens[i] = int32(b)
		}
		stack.Logits(tokens, logits)
		row := logits[(len(window)-1)*mc.V : (len(window)-1)*mc.V+data.TextVocab]
		text = append(text, byte(pick(row, probs, 1, 0, 1, rng)))
	}
	if distinct := len(slices.Compact(slices.Sorted(slices.Values(text)))); distinct < 8 {
		t.Fatalf("the model wrote %q: %d distinct bytes, too few to tell a wrong context apart", text, distinct)
	}
	if got.String() != string(text) {
		t.Errorf("cached greedy text differs from a forward pass's:\n%q\n%q", got.String(), text)
	}
}

// TestSampleEndsAtEndOfText: a GPT-2 model that scores <|endoftext|>
// highest after its prompt ends the text there, says so, and prints no
// end-of-text; with IgnoreEOS it goes on for every token asked.
func TestSampleEndsAtEndOfText(t *testing.T) {
	mc, params := scoringModel()
	wte := params["wte.weight"]
	for i := range mc.C {
		wte[data.EndOfText*mc.C+i] = 5
	}
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := model.Save(dir, &model.Checkpoint{Config: mc, Params: params, Tokens: model.TokensGPT2}); err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	var notes []string
	cfg := SampleConfig{Checkpoint: dir, Prompt: "Hello", Tokens: 3, Notice: func(m string) { notes = append(notes, m) }}
	if err := Sample(cfg, &w); err != nil {
		t.Fatal(err)
	}
	if w.String() != "Hello" || len(notes) != 1 || !strings.Contains(notes[0], "ended the text (<|endoftext|>) after 0 tokens") {
		t.Errorf("Sample = %q, notices %q; want the prompt alone and a notice of the end", w.String(), notes)
	}
	w.Reset()
	notes = nil
	cfg.IgnoreEOS = true
	if err := Sample(cfg, &w); err != nil {
		t.Fatal(err)
	}
	if want := "Hello" + strings.Repeat("<|endoftext|>", 3); w.String() != want || len(notes) != 0 {
		t.Errorf("with IgnoreEOS: Sample = %q, notices %q; want %q", w.String(), notes, want)
	}
}

// TestPickTopP: with probabilities 0.3, 0.5, 0.05 and 0.15, top-p keeps
// the fewest most likely tokens whose probability reaches p (at least
// one), and draws among them in proportion; top-k cuts first.
func TestPickTopP(t *testing.T) {
	logits := []float32{float32(math.Log(0.3)), float32(math.Log(0.5)), float32(math.Log(0.05)), float32(math.Log(0.15))}
	for _, c := range []struct {
		topK int
		topP float64
		want []int // tokens drawn, in order of id
	}{
		{0, 1, []int{0, 1, 2, 3}},
		{0, 0.9, []int{0, 1, 3}},
		{0, 0.75, []int{0, 1}},
		{0, 0.45, []int{1}},
		{0, 0, []int{1}},
		{3, 0.99, []int{0, 1, 3}},
		{2, 1, []int{0, 1}},
	} {
		probs := make([]float64, len(logits))
		rng := rand.New(rand.NewPCG(1, 2))
		counts := make([]int, len(logits))
		for range 4000 {
			counts[pick(logits, probs, 1, c.topK, c.topP, rng)]++
		}
		var drawn []int
		for i, n := range counts {
			if n > 0 {
				drawn = append(drawn, i)
			}
		}
		if !slices.Equal(drawn, c.want) {
			t.Errorf("top-k %d, top-p %g: drew %v (counts %v), want %v", c.topK, c.topP, drawn, counts, c.want)
		}
		if c.topP == 0.75 && math.Abs(float64(counts[1])/4000-0.5/0.8) > 0.03 {
			t.Errorf("top-p 0.75: token 1 drawn %d of 4000 times, want about %.0f (0.5 of the 0.8 kept)", counts[1], 4000*0.5/0.8)
		}
	}
}
