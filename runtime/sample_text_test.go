// Tests of sampling text: GPT-2 prompts and outputs, padding never drawn, characters never split across writes.

package runtime

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"baton/data"
	"baton/model"
)

// scoringModel is a one-layer model of GPT-2's padded vocabulary whose
// weights are zero but ln_f.bias (ones): its tied head scores token v by
// the sum of wte row v, which a test sets.
func scoringModel() (model.Config, map[string][]float32) {
	mc := model.Config{V: 50304, MaxT: 8, C: 8, NH: 1, L: 1}
	params := map[string][]float32{}
	for _, ts := range mc.AllTensors() {
		params[ts.Name] = make([]float32, ts.Elems())
	}
	for i := range params["ln_f.bias"] {
		params["ln_f.bias"][i] = 1
	}
	return mc, params
}

// TestSampleGPT2SkipsPadding: a padded GPT-2-vocabulary model whose
// padding rows score highest still samples text tokens only, and its
// prompt and output are GPT-2 text.
func TestSampleGPT2SkipsPadding(t *testing.T) {
	mc, params := scoringModel()
	wte := params["wte.weight"]
	for i := data.GPT2Vocab * mc.C; i < len(wte); i++ {
		wte[i] = 10 // padding rows: the best scores, if they could be drawn
	}
	for i := range mc.C {
		wte[15496*mc.C+i] = 5 // "Hello"
	}
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := model.Save(dir, &model.Checkpoint{Config: mc, Params: params}); err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	if err := Sample(SampleConfig{Checkpoint: dir, Prompt: "Hello world", Tokens: 2}, &w); err != nil {
		t.Fatal(err)
	}
	if want := "Hello worldHelloHello"; w.String() != want {
		t.Errorf("Sample = %q, want %q", w.String(), want)
	}
	mc.V = 1000
	if _, err := codecFor(mc.V, ""); err == nil {
		t.Error("codecFor(1000) succeeded; want an error: neither bytes nor GPT-2")
	}
}

// TestSampleBytesInAGPT2SizedVocabulary: a byte-level model with a
// GPT-2-sized vocabulary (gpt2-124m trained on text) samples bytes, as its
// config.json says, not GPT-2's tokens: its prompt's bytes are its ids, and
// no id past 255 is drawn though the padding rows score highest. Where
// config.json does not say (a Hugging Face model), the same weights are
// read as GPT-2's tokens.
func TestSampleBytesInAGPT2SizedVocabulary(t *testing.T) {
	mc, params := scoringModel()
	wte := params["wte.weight"]
	for i := 256 * mc.C; i < len(wte); i++ {
		wte[i] = 10 // every id past the bytes: the best scores, if they could be drawn
	}
	for i := range mc.C {
		wte['!'*mc.C+i] = 5
	}
	for _, c := range []struct{ tokens, want string }{
		{model.TokensBytes, "go!!!"},
		{"", "go"},
	} {
		dir := filepath.Join(t.TempDir(), "ckpt")
		if err := model.Save(dir, &model.Checkpoint{Config: mc, Params: params, Tokens: c.tokens}); err != nil {
			t.Fatal(err)
		}
		var w bytes.Buffer
		if err := Sample(SampleConfig{Checkpoint: dir, Prompt: "go", Tokens: 3}, &w); err != nil {
			t.Fatal(err)
		}
		if got := w.String(); c.tokens == model.TokensBytes && got != c.want || c.tokens == "" && !strings.HasPrefix(got, c.want) || c.tokens == "" && got == "go!!!" {
			t.Errorf("tokens %q: Sample = %q, want %q (and GPT-2's tokens where config.json does not say)", c.tokens, got, c.want)
		}
	}
}

// TestSampleSaysALongPromptIsCut: a prompt longer than the model's context
// is warned of, naming both lengths; one that fits is not.
func TestSampleSaysALongPromptIsCut(t *testing.T) {
	dir := CheckpointDir(trainedOut(t, corpus(t), 1))
	ck, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	T := ck.Config.MaxT
	for _, n := range []int{T, T + 5} {
		var warned []string
		cfg := SampleConfig{Checkpoint: dir, Prompt: strings.Repeat("a", n), Tokens: 1, Warn: func(m string) { warned = append(warned, m) }}
		if err := Sample(cfg, io.Discard); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("the prompt is %d bytes, longer than the model's context of %d", n, T)
		if got := strings.Join(warned, "; "); (n > T) != strings.Contains(got, want) {
			t.Errorf("a prompt of %d bytes, context %d: warnings %q", n, T, got)
		}
	}
}

// recorder keeps each write apart.
type recorder struct{ writes []string }

func (r *recorder) Write(b []byte) (int, error) {
	r.writes = append(r.writes, string(b))
	return len(b), nil
}

// TestCharWriter: GPT-2 splits "日本" over tokens that end inside a
// character; every write holds whole characters, and together they are
// the exact bytes.
func TestCharWriter(t *testing.T) {
	tok := data.NewGPT2()
	text := "x 日本語 é \xff end"
	ids, err := tok.Encode(nil, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	var r recorder
	cw := &charWriter{w: &r}
	split := false
	for _, id := range ids {
		piece, err := tok.Decode(nil, []uint16{id})
		if err != nil {
			t.Fatal(err)
		}
		split = split || unfinished(piece) > 0
		if err := cw.write(piece); err != nil {
			t.Fatal(err)
		}
	}
	if err := cw.flush(); err != nil {
		t.Fatal(err)
	}
	if !split {
		t.Fatalf("no token of %q ends inside a character; the test shows nothing", text)
	}
	if got := strings.Join(r.writes, ""); got != text {
		t.Errorf("writes join to %q, want %q", got, text)
	}
	for _, w := range r.writes {
		if unfinished([]byte(w)) > 0 {
			t.Errorf("write %q ends inside a character (writes %q)", w, r.writes)
		}
	}
}
