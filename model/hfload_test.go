// LoadHF: a Hugging Face style directory (prefix, mask buffers, LM head, an unpadded vocabulary) loads under baton's names, padded with zero rows.

package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"
	"github.com/x448/float16"
)

// hfFixture writes dir as transformers saves GPT2LMHeadModel: config.json
// with GPT2Config's keys and an unpadded vocabulary v0, every parameter
// under "transformer.", the causal-mask buffers and a tied lm_head.weight.
// It returns the parameters by GPT-2 name.
func hfFixture(t *testing.T, dir string, c Config, edit func(views map[string]f32View)) map[string][]float32 {
	t.Helper()
	cfg := map[string]any{"model_type": "gpt2", "architectures": []string{"GPT2LMHeadModel"}, "vocab_size": c.V,
		"n_positions": c.MaxT, "n_ctx": c.MaxT, "n_embd": c.C, "n_head": c.NH, "n_layer": c.L, "n_inner": nil,
		"activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "bos_token_id": 50256, "task_specific_params": map[string]any{}}
	raw, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, configFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	params := map[string][]float32{}
	views := map[string]f32View{}
	for i, ts := range c.AllTensors() {
		v := make([]float32, ts.Elems())
		for j := range v {
			v[j] = float32(i+1) + float32(j)/1000
		}
		params[ts.Name] = v
		views[hfPrefix+ts.Name] = f32View{shape: u64(ts.Shape), data: v}
	}
	for l := range c.L {
		h := hfPrefix + "h." + string(rune('0'+l))
		views[h+".attn.bias"] = f32View{shape: []uint64{1, 1, uint64(c.MaxT), uint64(c.MaxT)}, data: make([]float32, c.MaxT*c.MaxT)}
		views[h+".attn.masked_bias"] = f32View{shape: []uint64{}, data: []float32{-1e4}}
	}
	views["lm_head.weight"] = views[hfPrefix+"wte.weight"]
	if edit != nil {
		edit(views)
	}
	var b bytes.Buffer
	if err := safetensors.SerializeToWriter(views, map[string]string{"format": "pt"}, &b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, modelFile), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return params
}

func u64(s []int) []uint64 {
	out := make([]uint64, len(s))
	for i, d := range s {
		out[i] = uint64(d)
	}
	return out
}

func TestLoadHFPadsTheVocabulary(t *testing.T) {
	c := Config{V: 250, MaxT: 16, C: 16, NH: 2, L: 2}
	dir := t.TempDir()
	want := hfFixture(t, dir, c, nil)
	ck, err := LoadHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	padded := c
	padded.V = 256
	if ck.Config != padded || ck.M != nil || ck.State != nil {
		t.Fatalf("config %v (moments %v, state %s), want %v and weights only", ck.Config, ck.M != nil, ck.State, padded)
	}
	wte := ck.Params["wte.weight"]
	if len(wte) != 256*16 {
		t.Fatalf("wte has %d values, want 256×16", len(wte))
	}
	for i, x := range wte {
		if i < 250*16 && x != want["wte.weight"][i] || i >= 250*16 && x != 0 {
			t.Fatalf("wte[%d] = %v; want the stored rows, then zero rows", i, x)
		}
	}
	for name, w := range want {
		if name != "wte.weight" && !equal(ck.Params[name], w) {
			t.Errorf("%s differs from the stored tensor", name)
		}
	}
	if PaddedVocab(50257) != 50304 || PaddedVocab(256) != 256 {
		t.Errorf("PaddedVocab(50257) = %d, PaddedVocab(256) = %d; want GPT-2's 50304 and 256", PaddedVocab(50257), PaddedVocab(256))
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLoadHFErrors(t *testing.T) {
	c := Config{V: 250, MaxT: 16, C: 16, NH: 2, L: 2}
	for _, tc := range []struct {
		name string
		edit func(map[string]f32View)
		msg  string
	}{
		{"shape", func(v map[string]f32View) {
			v[hfPrefix+"h.1.mlp.c_fc.weight"] = f32View{shape: []uint64{16, 32}, data: make([]float32, 512)}
		}, "tensor h.1.mlp.c_fc.weight has shape [16 32], want [16 64]"},
		{"missing", func(v map[string]f32View) { delete(v, hfPrefix+"ln_f.bias") }, "missing tensor ln_f.bias"},
		{"extra", func(v map[string]f32View) { v["h.9.attn.c_attn.weight"] = v[hfPrefix+"ln_f.bias"] }, "unexpected tensor h.9.attn.c_attn.weight"},
		{"twice", func(v map[string]f32View) { v["ln_f.bias"] = v[hfPrefix+"ln_f.bias"] }, "are the same parameter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			hfFixture(t, dir, c, tc.edit)
			_, err := LoadHF(dir)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one containing %q", err, tc.msg)
			}
		})
	}
	if _, err := LoadHF(filepath.Join(t.TempDir(), "nowhere")); err == nil || !strings.Contains(err.Error(), "no such directory") {
		t.Errorf("missing directory: error %v", err)
	}
	for _, bad := range []struct{ json, msg string }{
		{`{"vocab_size": 250, "n_positions": 16, "n_embd": "16", "n_head": 2, "n_layer": 2}`, `field n_embd is a JSON string; write it as a whole number without quotes`},
		{`{"vocab_size": 250.5, "n_positions": 16, "n_embd": 16, "n_head": 2, "n_layer": 2}`, `field vocab_size is a JSON number 250.5; write it as a whole number without quotes`},
	} {
		if _, _, err := decodeHFConfig([]byte(bad.json)); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("config %s: error %v, want one saying %q", bad.json, err, bad.msg)
		}
	}
}

// TestLoadHFGPT2Vocabulary loads GPT-2's own 50,257 rows, in a model
// narrow enough to stay fast: 47 zero rows make 50,304.
func TestLoadHFGPT2Vocabulary(t *testing.T) {
	dir := t.TempDir()
	want := hfFixture(t, dir, Config{V: 50257, MaxT: 8, C: 8, NH: 2, L: 1}, nil)
	ck, err := LoadHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	wte := ck.Params["wte.weight"]
	if ck.Config.V != 50304 || !equal(wte[:50257*8], want["wte.weight"]) || firstNonZero(wte[50257*8:]) >= 0 {
		t.Fatalf("V=%d; want 50304 with GPT-2's rows first and zero rows after", ck.Config.V)
	}
}

func firstNonZero(v []float32) int {
	for i, x := range v {
		if x != 0 {
			return i
		}
	}
	return -1
}

// TestLoadHFHalfPrecision: a model saved in F16 or BF16, as Hugging Face
// models often are, loads with every value widened to float32 exactly.
func TestLoadHFHalfPrecision(t *testing.T) {
	c := Config{V: 256, MaxT: 16, C: 16, NH: 2, L: 2}
	for _, c16 := range []struct {
		dt     safetensors.DType
		encode func(float32) uint16
		decode func(uint16) float32
	}{
		{safetensors.F16, func(x float32) uint16 { return float16.Fromfloat32(x).Bits() }, func(b uint16) float32 { return float16.Frombits(b).Float32() }},
		{safetensors.BF16, func(x float32) uint16 { return uint16(math.Float32bits(x) >> 16) }, func(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }},
	} {
		dir := t.TempDir()
		stored := hfFixture(t, dir, c, nil)
		editTensors(t, filepath.Join(dir, modelFile), func(views map[string]safetensors.TensorView) {
			for name, v := range views {
				if strings.HasSuffix(name, ".attn.bias") || strings.HasSuffix(name, ".attn.masked_bias") {
					continue // buffers LoadHF ignores, kept in F32
				}
				raw := v.Data()
				half := make([]byte, len(raw)/2)
				for i := range len(raw) / 4 {
					binary.LittleEndian.PutUint16(half[2*i:], c16.encode(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))))
				}
				hv, err := safetensors.NewTensorView(c16.dt, v.Shape(), half)
				if err != nil {
					t.Fatal(err)
				}
				views[name] = hv
			}
		})
		ck, err := LoadHF(dir)
		if err != nil {
			t.Fatalf("%v: %v", c16.dt, err)
		}
		for name, w := range stored {
			for i, x := range w {
				if want := c16.decode(c16.encode(x)); ck.Params[name][i] != want {
					t.Fatalf("%v: %s[%d] = %v, want %v (the stored %v widened)", c16.dt, name, i, ck.Params[name][i], want, x)
				}
			}
		}
	}
}

// TestLoadReadsHFNames: Load, which sampling uses, reads a directory as
// transformers saves it (prefix, mask buffers, tied head) as LoadHF does,
// so that what a run can start from can be sampled.
func TestLoadReadsHFNames(t *testing.T) {
	dir := t.TempDir()
	want := hfFixture(t, dir, Config{V: 256, MaxT: 16, C: 16, NH: 2, L: 2}, nil)
	ck, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		if !equal(ck.Params[name], w) {
			t.Errorf("%s differs from the stored tensor", name)
		}
	}
}

// TestLoadWeightsFromOldKeepsTheTokens: weights read from the
// checkpoint.old an interrupted save left say what their ids are, as the
// checkpoint's own would, so that a run on other ids is warned of.
func TestLoadWeightsFromOldKeepsTheTokens(t *testing.T) {
	run := t.TempDir()
	ck := tinyCheckpoint(1)
	ck.Tokens = TokensBytes
	mustSave(t, filepath.Join(run, runCheckpoint+oldSuffix), ck)
	got, err := LoadWeights(run)
	if err != nil {
		t.Fatal(err)
	}
	if got.Tokens != TokensBytes || len(got.Warnings) == 0 {
		t.Errorf("weights from %s: tokens %q, warnings %q; want %q and a warning of the fallback", runCheckpoint+oldSuffix, got.Tokens, got.Warnings, TokensBytes)
	}
}
