// --init-from and the run it starts: a vocabulary no preset has resumes and round-trips through run.json, sizes not given come from the weights, a shorter context trains the weights' model, and sample reads what init-from reads.

package main

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"baton/model"
)

// saveWeights writes weights of c to dir as a Hugging Face GPT-2 directory
// holds them: config.json and model.safetensors, nothing else.
func saveWeights(t *testing.T, dir string, c model.Config) {
	t.Helper()
	params := map[string][]float32{}
	for i, ts := range c.AllTensors() {
		v := make([]float32, ts.Elems())
		for j := range v {
			v[j] = float32(math.Sin(float64(i*7919+j))) / 16
		}
		params[ts.Name] = v
	}
	if err := model.Save(dir, &model.Checkpoint{Config: c, Params: params}); err != nil {
		t.Fatal(err)
	}
}

// TestInitFromCustomVocabulary: a run started from a model whose
// vocabulary, padded, is no preset's (300 → 384) records no preset, and so
// resumes and, fed back as --config, starts the same run again.
func TestInitFromCustomVocabulary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	saveWeights(t, filepath.Join(dir, "hf"), model.Config{V: 300, MaxT: 16, C: 32, NH: 4, L: 2})
	run := []string{"train", "--devices", "cpu:0", "--data", corpus, "--batch", "2", "--microbatches", "1", "--quiet"}
	mustRun(t, dir, append(run, "--steps", "2", "--init-from", "hf", "--out", "run")...)
	mustRun(t, dir, "train", "--resume", "--out", "run", "--steps", "3", "--quiet")
	mustRun(t, dir, "train", "--config", "run/run.json", "--out", "again", "--quiet")
	want := readRecord(t, filepath.Join(dir, "run"))
	if m, ok := want.Config["model"]; ok {
		t.Errorf("run.json's model is %v, want none: no preset has the vocabulary of 384", m)
	}
	if got := readRecord(t, filepath.Join(dir, "again")); !reflect.DeepEqual(got.Config, want.Config) {
		t.Errorf("again/run.json's config is\n%v\nwant run/run.json's\n%v", got.Config, want.Config)
	}
	var ck struct {
		V int `json:"vocab_size"`
	}
	readJSON(t, filepath.Join(dir, "again", "checkpoint", "config.json"), &ck)
	if ck.V != 384 {
		t.Errorf("the run from run.json has vocab_size %d, want the padded 384", ck.V)
	}
}

// TestInitFromTakesTheSizesNotGiven: a size given without --model that
// agrees with the weights' model starts from them; the sizes not given are
// theirs, not the default preset's.
func TestInitFromTakesTheSizesNotGiven(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyTree(t, trainedRun(t), filepath.Join(dir, "run"))
	for i, size := range [][]string{{"--context", "16"}, {"--layers", "2", "--heads", "4"}} {
		out := "new" + string(rune('a'+i))
		mustRun(t, dir, append([]string{"train", "--devices", "cpu:0", "--data", corpus, "--steps", "1", "--quiet", "--init-from", "run", "--out", out}, size...)...)
		if m := readRecord(t, filepath.Join(dir, out)).Config["model"]; m != "tiny" {
			t.Errorf("--init-from run %v: run.json's model is %v, want run's tiny", size, m)
		}
	}
}

// TestSampleReadsWhatInitFromReads: a directory as transformers saves
// GPT2LMHeadModel (the "transformer." prefix, causal-mask buffers, the tied
// head) samples as it trains, and so does a run holding only checkpoint.old.
func TestSampleReadsWhatInitFromReads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyTree(t, filepath.Join(trainedRun(t), "checkpoint"), filepath.Join(dir, "hf"))
	for _, f := range []string{"state.json", "optimizer"} {
		if err := os.RemoveAll(filepath.Join(dir, "hf", f)); err != nil {
			t.Fatal(err)
		}
	}
	editST(t, filepath.Join(dir, "hf", "model.safetensors"), func(ts []stTensor) []stTensor {
		var head stTensor
		for i := range ts {
			if ts[i].name == "wte.weight" {
				head = ts[i]
			}
			ts[i].name = "transformer." + ts[i].name
		}
		head.name = "lm_head.weight"
		mask := stTensor{name: "transformer.h.0.attn.bias", dtype: "F32", shape: []int{1, 1, 16, 16}, data: binary.LittleEndian.AppendUint32(nil, math.Float32bits(1))}
		mask.data = []byte(strings.Repeat(string(mask.data), 256))
		return append(ts, head, mask)
	})
	copyTree(t, trainedRun(t), filepath.Join(dir, "old"))
	if err := os.Rename(filepath.Join(dir, "old", "checkpoint"), filepath.Join(dir, "old", "checkpoint.old")); err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{"hf", "old"} {
		mustRun(t, dir, "train", "--devices", "cpu:0", "--data", corpus, "--steps", "1", "--quiet", "--init-from", from, "--out", "from-"+from)
		if r := baton(t, dir, "sample", "--from", from, "--tokens", "3"); r.code != 0 {
			t.Errorf("sample --from %s: exit status %d; stderr:\n%s", from, r.code, r.stderr)
		}
	}
}

// TestInitFromAtAShorterContext: --context below the weights' 16
// positions trains their model on sequences of 8 tokens (as GPT-2 is
// fine-tuned below its 1,024), resumes so (the weights it started from
// gone by then), and saves the 16 positions; a
// longer one than they have is refused.
func TestInitFromAtAShorterContext(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	saveWeights(t, filepath.Join(dir, "hf"), model.Config{V: 256, MaxT: 16, C: 32, NH: 4, L: 2})
	run := []string{"train", "--devices", "cpu:0", "--data", corpus, "--batch", "2", "--microbatches", "1", "--quiet", "--init-from", "hf"}
	mustRun(t, dir, append(run, "--steps", "1", "--context", "8", "--out", "run")...)
	// The weights started from are the run's history: gone, the run resumes.
	if err := os.Rename(filepath.Join(dir, "hf"), filepath.Join(dir, "hf-away")); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, "train", "--resume", "--out", "run", "--steps", "2", "--quiet")
	if err := os.Rename(filepath.Join(dir, "hf-away"), filepath.Join(dir, "hf")); err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Context, Steps int
	}
	readJSON(t, filepath.Join(dir, "run", "summary.json"), &sum)
	var ck struct {
		T int `json:"n_positions"`
	}
	readJSON(t, filepath.Join(dir, "run", "checkpoint", "config.json"), &ck)
	if sum.Context != 8 || sum.Steps != 2 || ck.T != 16 {
		t.Errorf("the run trained %d steps at context %d and saved %d positions; want 2 steps at 8, and 16", sum.Steps, sum.Context, ck.T)
	}
	if r := baton(t, dir, append(run, "--steps", "1", "--context", "32", "--out", "long")...); r.code != 2 || !strings.Contains(r.stderr, "--context 32 is more than the 16 positions (n_positions) of the checkpoint's model; give --context 16 or less") {
		t.Errorf("--context 32 on weights of 16 positions: exit %d, want 2 and a refusal naming the positions:\n%s", r.code, r.stderr)
	}
}
