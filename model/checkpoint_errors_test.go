// Tests that Load refuses every kind of damaged checkpoint with a one-line error naming the file and tensor.

package model

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"
)

// editTensors rewrites a safetensors file in dir through edit, which may
// add, remove or replace views.
func editTensors(t *testing.T, path string, edit func(map[string]safetensors.TensorView)) {
	t.Helper()
	buf, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Deserialize(buf)
	if err != nil {
		t.Fatal(err)
	}
	views := map[string]safetensors.TensorView{}
	for _, nv := range st.Tensors() {
		views[nv.Name] = nv.TensorView
	}
	edit(views)
	out, err := safetensors.Serialize(views, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func view(t testing.TB, dt safetensors.DType, shape ...uint64) safetensors.TensorView {
	t.Helper()
	n := dt.Size()
	for _, d := range shape {
		n *= d
	}
	v, err := safetensors.NewTensorView(dt, shape, make([]byte, n))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// editConfig rewrites config.json through edit on its decoded fields.
func editConfig(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, configFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if raw, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRejectsDamage(t *testing.T) {
	model := func(dir string) string { return filepath.Join(dir, modelFile) }
	opt := func(dir string) string { return filepath.Join(dir, optimizerFile) }
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		file   string // the file the error must name
		want   string
	}{
		{"missing tensor", func(t *testing.T, dir string) {
			editTensors(t, model(dir), func(v map[string]safetensors.TensorView) { delete(v, "h.1.attn.c_proj.weight") })
		}, modelFile, ": missing tensor h.1.attn.c_proj.weight"},
		{"wrong shape", func(t *testing.T, dir string) {
			editTensors(t, model(dir), func(v map[string]safetensors.TensorView) { v["h.0.mlp.c_fc.weight"] = view(t, safetensors.F32, 32, 64) })
		}, modelFile, ": tensor h.0.mlp.c_fc.weight has shape [32 64], want [32 128] for n_embd=32"},
		{"wrong wte shape", func(t *testing.T, dir string) {
			editTensors(t, model(dir), func(v map[string]safetensors.TensorView) { v["wte.weight"] = view(t, safetensors.F32, 255, 32) })
		}, modelFile, "want [256 32] for vocab_size=256, n_embd=32"},
		{"wrong dtype", func(t *testing.T, dir string) {
			editTensors(t, model(dir), func(v map[string]safetensors.TensorView) { v["wte.weight"] = view(t, safetensors.F64, 256, 32) })
		}, modelFile, ": tensor wte.weight has dtype F64; baton reads F32, F16 and BF16"},
		{"extra tensor", func(t *testing.T, dir string) {
			editTensors(t, model(dir), func(v map[string]safetensors.TensorView) {
				v["lm_head.weight"] = view(t, safetensors.F32, 256, 32)
				v["h.2.ln_1.bias"] = view(t, safetensors.F32, 32)
			})
		}, modelFile, ": unexpected tensor h.2.ln_1.bias (and 1 more)"},
		{"truncated", func(t *testing.T, dir string) {
			b, _ := os.ReadFile(model(dir))
			writeFile(t, model(dir), b[:len(b)/2])
		}, modelFile, "not a valid safetensors file"},
		{"truncated in header", func(t *testing.T, dir string) {
			b, _ := os.ReadFile(model(dir))
			writeFile(t, model(dir), b[:20])
		}, modelFile, "truncated or corrupted"},
		{"empty", func(t *testing.T, dir string) { writeFile(t, model(dir), nil) }, modelFile, "header too small"},
		{"corrupted header", func(t *testing.T, dir string) {
			b, _ := os.ReadFile(model(dir))
			copy(b[8:], `{"wte.weight":[`)
			writeFile(t, model(dir), b)
		}, modelFile, "not a valid safetensors file"},
		{"huge header length", func(t *testing.T, dir string) {
			b, _ := os.ReadFile(model(dir))
			binary.LittleEndian.PutUint64(b, 1<<62)
			writeFile(t, model(dir), b)
		}, modelFile, "header length field says 4611686018427387904 bytes"},
		{"model missing", func(t *testing.T, dir string) { os.Remove(model(dir)) }, modelFile, ": missing;"},
		{"config missing", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, configFile)) }, configFile, ": missing;"},
		{"config not json", func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, configFile), []byte("n_embd=32")) }, configFile, "not a JSON object"},
		{"config bad heads", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { m["n_head"] = 5 })
		}, configFile, "not divisible by n_head"},
		{"config zero layers", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { m["n_layer"] = 0 })
		}, configFile, "n_layer (L) is 0"},
		{"config field missing", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { delete(m, "n_embd") })
		}, configFile, "missing field n_embd"},
		{"config more layers than file", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { m["n_layer"] = 3 })
		}, modelFile, "missing tensor h.2.ln_1.weight"},
		{"config other model type", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { m["model_type"] = "llama" })
		}, configFile, `model_type is "llama"`},
		{"config n_inner", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { m["n_inner"] = 64 })
		}, configFile, "n_inner is 64"},
		{"config activation", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { m["activation_function"] = "relu" })
		}, configFile, `activation_function is "relu"`},
		{"config untied", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { m["tie_word_embeddings"] = false })
		}, configFile, "tie_word_embeddings is false"},
		{"config unscaled attention", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { m["scale_attn_weights"] = false })
		}, configFile, "scale_attn_weights is false"},
		{"config attention scaled by layer", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { m["scale_attn_by_inverse_layer_idx"] = true })
		}, configFile, "scale_attn_by_inverse_layer_idx is true"},
		{"optimizer missing tensor", func(t *testing.T, dir string) {
			editTensors(t, opt(dir), func(v map[string]safetensors.TensorView) { delete(v, "v.ln_f.bias") })
		}, optimizerFile, ": missing tensor v.ln_f.bias"},
		{"optimizer wrong shape", func(t *testing.T, dir string) {
			editTensors(t, opt(dir), func(v map[string]safetensors.TensorView) { v["m.wpe.weight"] = view(t, safetensors.F32, 8, 32) })
		}, optimizerFile, ": tensor m.wpe.weight has shape [8 32], want [16 32] for n_positions=16, n_embd=32"},
		{"optimizer truncated", func(t *testing.T, dir string) {
			b, _ := os.ReadFile(opt(dir))
			writeFile(t, opt(dir), b[:len(b)-1])
		}, optimizerFile, "not a valid safetensors file"},
		{"state not json", func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, stateFile), []byte(`{"step": 3`)) }, stateFile, "not valid JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ckpt")
			mustSave(t, dir, tinyCheckpoint(1))
			tc.damage(t, dir)
			ck, err := LoadResume(dir)
			if err == nil {
				t.Fatalf("LoadResume accepted a checkpoint with %s (config %v)", tc.name, ck.Config)
			}
			msg := err.Error()
			prefix := "checkpoint " + filepath.Join(dir, tc.file) + ":"
			if !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tc.want) {
				t.Fatalf("error = %q\nwant it to start with %q and contain %q", msg, prefix, tc.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans several lines: %q", msg)
			}
		})
	}
}

func TestLoadMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nothing")
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), "checkpoint "+dir+": no such directory") {
		t.Fatalf("error = %v, want it to say %s does not exist", err, dir)
	}
}
