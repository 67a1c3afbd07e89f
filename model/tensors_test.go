// ReadTensors: every parameter of a saved checkpoint comes back as a Dense of GPT-2's shape holding the saved values.

package model

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReadTensors(t *testing.T) {
	c := Config{V: 256, MaxT: 16, C: 16, NH: 2, L: 2}
	params := map[string][]float32{}
	for i, ts := range c.AllTensors() {
		v := make([]float32, ts.Elems())
		for j := range v {
			v[j] = float32(i) - float32(j)/64
		}
		params[ts.Name] = v
	}
	dir := filepath.Join(t.TempDir(), "ck")
	if err := Save(dir, &Checkpoint{Config: c, Params: params}); err != nil {
		t.Fatal(err)
	}
	ts, cfg, err := ReadTensors(dir)
	if err != nil {
		t.Fatal(err)
	}
	if *cfg != c || len(ts) != len(params) {
		t.Fatalf("config %v with %d tensors, want %v with %d", *cfg, len(ts), c, len(params))
	}
	d := ts["h.1.mlp.c_fc.weight"]
	if s := d.Shape(); len(s) != 2 || s[0] != 16 || s[1] != 64 {
		t.Fatalf("h.1.mlp.c_fc.weight has shape %v, want (16, 64): GPT-2's (in, out)", s)
	}
	for name, want := range params {
		got := ts[name].Data().([]float32)
		if !equal(got, want) {
			t.Errorf("%s differs from the saved tensor", name)
		}
	}
	v, err := d.At(3, 5)
	if err != nil || v.(float32) != params["h.1.mlp.c_fc.weight"][3*64+5] {
		t.Errorf("At(3, 5) = %v (%v), want row-major (in, out) element %v", v, err, params["h.1.mlp.c_fc.weight"][3*64+5])
	}
}

// TestReadTensorsOfARun: ReadTensors takes what its errors ask for, a baton
// run directory, also when an interrupted save left only checkpoint.old, as
// well as its checkpoint directory and a Hugging Face one.
func TestReadTensorsOfARun(t *testing.T) {
	c := Config{V: 256, MaxT: 16, C: 16, NH: 2, L: 1}
	dir := t.TempDir()
	want := hfFixture(t, mkdirAll(t, filepath.Join(dir, "hf")), c, nil)
	run := filepath.Join(dir, "run")
	if err := Save(filepath.Join(run, "checkpoint"), &Checkpoint{Config: c, Params: want, State: []byte(`{"step": 2}`)}); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "old")
	if err := Save(filepath.Join(old, "checkpoint.old"), &Checkpoint{Config: c, Params: want, State: []byte(`{"step": 2}`)}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{run, filepath.Join(run, "checkpoint"), old, filepath.Join(old, "checkpoint"), filepath.Join(dir, "hf")} {
		ts, cfg, err := ReadTensors(d)
		if err != nil {
			t.Errorf("%s: %v", d, err)
			continue
		}
		if *cfg != c || !equal(ts["h.0.attn.c_attn.weight"].Data().([]float32), want["h.0.attn.c_attn.weight"]) {
			t.Errorf("%s: config %v and other weights, want %v and the saved ones", d, *cfg, c)
		}
	}
}

func mkdirAll(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
