// Tests of Save and Load: bit-exact round trips, config.json's field names, and input checks.

package model

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"
)

// randomTensors fills every parameter of c with random bit patterns of
// finite numbers, subnormals and negative zero included, so that a round
// trip must be bit-exact. (A checkpoint holds no NaN or infinity.)
func randomTensors(c Config, r *rand.Rand) map[string][]float32 {
	m := make(map[string][]float32)
	for _, t := range c.AllTensors() {
		v := make([]float32, t.Elems())
		for i := range v {
			bits := r.Uint32()
			if bits&0x7f800000 == 0x7f800000 { // an all-ones exponent: NaN or ±Inf
				bits ^= 0x00800000
			}
			v[i] = math.Float32frombits(bits)
		}
		m[t.Name] = v
	}
	return m
}

// tinyCheckpoint is a full checkpoint of the tiny preset; seed makes it distinct.
func tinyCheckpoint(seed uint64) *Checkpoint {
	c := Presets["tiny"]
	r := rand.New(rand.NewPCG(seed, 1))
	state, _ := json.Marshal(map[string]uint64{"step": seed, "seed": 42})
	return &Checkpoint{
		Config: c,
		Params: randomTensors(c, r),
		M:      randomTensors(c, r),
		V:      randomTensors(c, r),
		State:  state,
	}
}

func sameTensors(t *testing.T, what string, got, want map[string][]float32) {
	t.Helper()
	if (got == nil) != (want == nil) || len(got) != len(want) {
		t.Fatalf("%s: got %d tensors (nil %v), want %d (nil %v)", what, len(got), got == nil, len(want), want == nil)
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok || len(g) != len(w) {
			t.Fatalf("%s: tensor %s missing or of length %d, want %d", what, name, len(g), len(w))
		}
		for i := range w {
			if math.Float32bits(g[i]) != math.Float32bits(w[i]) {
				t.Fatalf("%s: %s[%d] = %#x, want %#x", what, name, i, math.Float32bits(g[i]), math.Float32bits(w[i]))
			}
		}
	}
}

func sameCheckpoint(t *testing.T, got, want *Checkpoint) {
	t.Helper()
	if got.Config != want.Config {
		t.Fatalf("Config = %v, want %v", got.Config, want.Config)
	}
	sameTensors(t, "Params", got.Params, want.Params)
	sameTensors(t, "M", got.M, want.M)
	sameTensors(t, "V", got.V, want.V)
	if string(got.State) != string(want.State) {
		t.Fatalf("State = %s, want %s", got.State, want.State)
	}
}

func mustSave(t *testing.T, dir string, ck *Checkpoint) {
	t.Helper()
	if err := Save(dir, ck); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	want := tinyCheckpoint(1)
	mustSave(t, dir, want)
	got, err := LoadResume(dir)
	if err != nil {
		t.Fatal(err)
	}
	sameCheckpoint(t, got, want)
	if got.RecoveredFrom != "" {
		t.Errorf("RecoveredFrom = %q for an intact checkpoint", got.RecoveredFrom)
	}

	// Saving over it replaces every file and leaves no sibling behind.
	want2 := tinyCheckpoint(2)
	want2.M, want2.V, want2.State = nil, nil, nil
	mustSave(t, dir, want2)
	got, err = Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	sameCheckpoint(t, got, want2)
	for _, f := range []string{optimizerFile, stateFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s present after saving without it: %v", f, err)
		}
	}
	noSiblings(t, dir)
}

func noSiblings(t *testing.T, dir string) {
	t.Helper()
	for _, s := range []string{tmpSuffix, oldSuffix} {
		if _, err := os.Stat(dir + s); !os.IsNotExist(err) {
			t.Errorf("%s%s left behind after a completed Save (stat: %v)", dir, s, err)
		}
	}
}

func TestConfigJSONHasHFNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	mustSave(t, dir, tinyCheckpoint(1))
	raw, err := os.ReadFile(filepath.Join(dir, configFile))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	c := Presets["tiny"]
	want := map[string]any{
		"model_type":          "gpt2",
		"vocab_size":          float64(c.V),
		"n_positions":         float64(c.MaxT),
		"n_ctx":               float64(c.MaxT),
		"n_embd":              float64(c.C),
		"n_layer":             float64(c.L),
		"n_head":              float64(c.NH),
		"n_inner":             nil,
		"activation_function": "gelu_new",
		"layer_norm_epsilon":  1e-5,
		"tie_word_embeddings": true,
		"eos_token_id":        nil, // a byte vocabulary has no GPT-2 <|endoftext|>
	}
	for k, v := range want {
		got, ok := m[k]
		if !ok {
			t.Errorf("config.json has no %q", k)
		} else if got != v {
			t.Errorf("config.json %q = %v, want %v", k, got, v)
		}
	}
	if a, _ := m["architectures"].([]any); len(a) != 1 || a[0] != "GPT2LMHeadModel" {
		t.Errorf("architectures = %v, want [GPT2LMHeadModel]", m["architectures"])
	}
	if n, ok := m["baton_vocab_note"]; ok {
		t.Errorf("baton_vocab_note = %v for an unpadded byte vocabulary", n)
	}
	// Loaders of sharded weights glob *.safetensors: only the model's.
	if g, _ := filepath.Glob(filepath.Join(dir, "*.safetensors")); len(g) != 1 || filepath.Base(g[0]) != modelFile {
		t.Errorf("*.safetensors = %v, want %s alone", g, modelFile)
	}

	// transformers refuses safetensors without format metadata it knows.
	st, err := os.ReadFile(filepath.Join(dir, modelFile))
	if err != nil {
		t.Fatal(err)
	}
	_, meta, err := safetensors.ReadMetadata(st)
	if err != nil {
		t.Fatal(err)
	}
	if f := meta.Metadata()["format"]; f != "pt" {
		t.Errorf("model.safetensors metadata format = %q, want pt", f)
	}
}

func TestGPT2VocabularyGetsEOS(t *testing.T) {
	b, err := encodeHFConfig(Presets["gpt2-124m"], TokensGPT2)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["eos_token_id"] != float64(gpt2EOS) || m["bos_token_id"] != float64(gpt2EOS) {
		t.Errorf("bos/eos = %v/%v, want %d", m["bos_token_id"], m["eos_token_id"], gpt2EOS)
	}
	// The padding is explained; Load reads past the note.
	if n, _ := m["baton_vocab_note"].(string); !strings.Contains(n, "padded from GPT-2's 50257 tokens to 50304") {
		t.Errorf("baton_vocab_note = %q, want it to say 50257 is padded to 50304", n)
	}
	c, tokens, err := decodeHFConfig(b)
	if err != nil || c != Presets["gpt2-124m"] || tokens != TokensGPT2 {
		t.Errorf("decode = %v, %q, %v; want %v, %q", c, tokens, err, Presets["gpt2-124m"], TokensGPT2)
	}
}

// TestBytesInAGPT2SizedVocabularyGetNoEOS: a byte-level model with a
// GPT-2-sized vocabulary says so (baton_tokens) and claims no GPT-2
// <|endoftext|>, which its ids do not have; a baton_tokens baton never
// writes is refused, naming the key.
func TestBytesInAGPT2SizedVocabularyGetNoEOS(t *testing.T) {
	b, err := encodeHFConfig(Presets["gpt2-124m"], TokensBytes)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["eos_token_id"] != nil || m["bos_token_id"] != nil || m["baton_tokens"] != TokensBytes {
		t.Errorf("bos/eos = %v/%v, baton_tokens %v; want null, null, %q", m["bos_token_id"], m["eos_token_id"], m["baton_tokens"], TokensBytes)
	}
	if _, tokens, err := decodeHFConfig(b); err != nil || tokens != TokensBytes {
		t.Errorf("decode: tokens %q, %v; want %q", tokens, err, TokensBytes)
	}
	bad := bytes.Replace(b, []byte(`"baton_tokens": "bytes"`), []byte(`"baton_tokens": "words"`), 1)
	if _, _, err := decodeHFConfig(bad); err == nil || !strings.Contains(err.Error(), `baton_tokens is "words"`) {
		t.Errorf("decode of baton_tokens \"words\": %v; want it refused, naming the key", err)
	}
}

func TestSaveRejectsBadInput(t *testing.T) {
	root := t.TempDir()
	cases := []struct {
		name   string
		dir    string
		change func(ck *Checkpoint)
		want   string
	}{
		{"nil", "", nil, "nil Checkpoint"},
		{"bad config", "", func(ck *Checkpoint) { ck.Config.NH = 5 }, "not divisible by n_head"},
		{"missing param", "", func(ck *Checkpoint) { delete(ck.Params, "ln_f.bias") }, "Params has no tensor ln_f.bias"},
		{"short param", "", func(ck *Checkpoint) { ck.Params["wpe.weight"] = ck.Params["wpe.weight"][:5] }, "Params[wpe.weight] has 5 values, want 512"},
		{"extra param", "", func(ck *Checkpoint) { ck.Params["lm_head.weight"] = nil }, `Params has tensor "lm_head.weight"`},
		{"M without V", "", func(ck *Checkpoint) { ck.V = nil }, "only one of M and V"},
		{"short V", "", func(ck *Checkpoint) { ck.V["h.0.ln_1.bias"] = nil }, "V[h.0.ln_1.bias] has 0 values"},
		{"bad state", "", func(ck *Checkpoint) { ck.State = json.RawMessage("{step") }, "State is not valid JSON"},
		{"state without step", "", func(ck *Checkpoint) { ck.State = json.RawMessage(`{"seed": 1}`) }, `State has no "step"`},
		{"state at step 0", "", func(ck *Checkpoint) { ck.State = json.RawMessage(`{"step": 0}`) }, `State has "step": 0`},
		{"NaN param", "", func(ck *Checkpoint) { ck.Params["h.1.ln_2.weight"][3] = float32(math.NaN()) }, "Params[h.1.ln_2.weight][3] is NaN: a checkpoint is never written"},
		{"infinite M", "", func(ck *Checkpoint) { ck.M["wte.weight"][0] = float32(math.Inf(-1)) }, "M[wte.weight][0] is -Inf"},
		{"infinite V", "", func(ck *Checkpoint) { ck.V["ln_f.bias"][31] = float32(math.Inf(1)) }, "V[ln_f.bias][31] is +Inf"},
		{"dot dir", ".", func(*Checkpoint) {}, "name a directory of its own"},
		{"extra in a directory", "", func(ck *Checkpoint) { ck.Extra = map[string][]byte{"a/vocab.json": nil} }, `extra file "a/vocab.json"`},
		{"extra as the state", "", func(ck *Checkpoint) { ck.Extra = map[string][]byte{"state.json": nil} }, `extra file "state.json"`},
		{"extra as a shard", "", func(ck *Checkpoint) { ck.Extra = map[string][]byte{"model-00001-of-00002.safetensors": nil} }, `extra file "model-00001-of-00002.safetensors"`},
		{"extra as the moments", "", func(ck *Checkpoint) { ck.Extra = map[string][]byte{"optimizer": nil} }, `extra file "optimizer"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ck *Checkpoint
			if tc.change != nil {
				ck = tinyCheckpoint(1)
				tc.change(ck)
			}
			dir := tc.dir
			if dir == "" {
				dir = filepath.Join(root, "ckpt")
			}
			err := Save(dir, ck)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Save error = %v, want one containing %q", err, tc.want)
			}
			if _, serr := os.Stat(dir); tc.dir == "" && !os.IsNotExist(serr) {
				t.Errorf("rejected Save created %s", dir)
			}
		})
	}
}

func TestSaveOverFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ckpt")
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Save(path, tinyCheckpoint(1)); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("Save over a file: error = %v, want 'not a directory'", err)
	}
}
