// A checkpoint written in parts by several writers loads as the whole one; a part missing, doubled or out of reach is refused and the previous checkpoint kept; sharded Hugging Face weights load.

package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nlpodyssey/safetensors"
)

// splitNames deals ck's tensors into n parts by where each lies in the
// model, as stages hold them: the embeddings first, the head last.
func splitNames(ck *Checkpoint, n int) [][]string {
	ts := ck.Config.AllTensors()
	parts := make([][]string, n)
	for i, t := range ts {
		k := i * n / len(ts)
		parts[k] = append(parts[k], t.Name)
	}
	return parts
}

// subset is m's tensors named in names.
func subset(m map[string][]float32, names []string) map[string][]float32 {
	if m == nil {
		return nil
	}
	out := map[string][]float32{}
	for _, n := range names {
		out[n] = m[n]
	}
	return out
}

// saveParts saves ck in n parts written at once, as n ranks would, and
// returns CommitParts' error.
func saveParts(t *testing.T, dir string, ck *Checkpoint, n int, edit func(parts []Part)) error {
	t.Helper()
	token, err := BeginParts(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := splitNames(ck, n)
	parts := make([]Part, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Go(func() {
			var err error
			parts[k], err = WritePart(dir, token, k+1, n, ck.Config, subset(ck.Params, names[k]), subset(ck.M, names[k]), subset(ck.V, names[k]))
			if err != nil {
				t.Errorf("part %d: %v", k+1, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if edit != nil {
		edit(parts)
	}
	meta := *ck
	meta.Params, meta.M, meta.V = nil, nil, nil
	return CommitParts(dir, &meta, parts)
}

// TestPartsLoadAsOne: three parts make a checkpoint that Load, LoadResume
// and LoadWeights read as the whole one, laid out as transformers shards a
// model (an index beside model-0000k-of-00003 shards, none of them
// model.safetensors), and a Save over it leaves the one-file layout alone.
func TestPartsLoadAsOne(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	mustSave(t, dir, tinyCheckpoint(1))
	want := tinyCheckpoint(2)
	want.Extra = map[string][]byte{"vocab.json": []byte("{}")}
	if err := saveParts(t, dir, want, 3, nil); err != nil {
		t.Fatal(err)
	}
	got, err := LoadResume(dir)
	if err != nil {
		t.Fatal(err)
	}
	sameCheckpoint(t, got, want)
	weights, err := LoadWeights(dir)
	if err != nil {
		t.Fatal(err)
	}
	sameTensors(t, "LoadWeights", weights.Params, want.Params)
	noSiblings(t, dir)

	var entries []string
	for _, sub := range []string{".", optimizerDir} {
		es, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			entries = append(entries, filepath.Join(sub, e.Name()))
		}
	}
	slices.Sort(entries)
	wantEntries := []string{"config.json", "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors",
		"model.safetensors.index.json", "optimizer", "optimizer/optimizer-00001-of-00003.safetensors", "optimizer/optimizer-00002-of-00003.safetensors",
		"optimizer/optimizer-00003-of-00003.safetensors", "optimizer/optimizer.safetensors.index.json", "state.json", "vocab.json"}
	if !slices.Equal(entries, wantEntries) {
		t.Errorf("the checkpoint holds\n%q\nwant\n%q", entries, wantEntries)
	}
	var ix shardIndex
	raw, err := os.ReadFile(filepath.Join(dir, modelIndex))
	if err != nil || json.Unmarshal(raw, &ix) != nil {
		t.Fatalf("the index: %v: %s", err, raw)
	}
	if ix.WeightMap["wte.weight"] != "model-00001-of-00003.safetensors" || ix.WeightMap["ln_f.bias"] != "model-00003-of-00003.safetensors" ||
		len(ix.WeightMap) != len(want.Params) || ix.Metadata.TotalSize != 4*want.Config.NumParams() {
		t.Errorf("the index maps wte to %q and ln_f.bias to %q, %d names of %d, total_size %d (want %d)", ix.WeightMap["wte.weight"], ix.WeightMap["ln_f.bias"],
			len(ix.WeightMap), len(want.Params), ix.Metadata.TotalSize, 4*want.Config.NumParams())
	}

	third := tinyCheckpoint(3)
	mustSave(t, dir, third)
	if _, err := os.Stat(filepath.Join(dir, modelIndex)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after a Save of one file the index is still there (%v)", err)
	}
	if got, err = LoadResume(dir); err != nil {
		t.Fatal(err)
	}
	sameCheckpoint(t, got, third)
}

// TestLoadResumeKeepingKeepsItsOwn: a load keeping some tensors, as a rank
// keeps its stages', returns those alone, also from a file it keeps only
// some of, and still checks the rest: a damaged shard it keeps nothing of
// makes it fall back to <dir>.old, as every other rank's load does, asking
// keep again with that checkpoint's state.
func TestLoadResumeKeepingKeepsItsOwn(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	want := tinyCheckpoint(2)
	if err := saveParts(t, dir, want, 3, nil); err != nil {
		t.Fatal(err)
	}
	parts := splitNames(want, 3)
	mine := append(slices.Clone(parts[0]), parts[1][0])
	var states []string
	keep := func(c Config, state json.RawMessage) func(string) bool {
		if c != want.Config {
			t.Errorf("keep was given the model %v, want %v", c, want.Config)
		}
		states = append(states, string(state))
		return func(name string) bool { return slices.Contains(mine, name) }
	}
	got, err := LoadResumeKeeping(dir, keep)
	if err != nil {
		t.Fatal(err)
	}
	sameTensors(t, "Params", got.Params, subset(want.Params, mine))
	sameTensors(t, "M", got.M, subset(want.M, mine))
	sameTensors(t, "V", got.V, subset(want.V, mine))

	older := tinyCheckpoint(1)
	mustSave(t, dir+oldSuffix, older)
	if err := os.Truncate(filepath.Join(dir, "model-00003-of-00003.safetensors"), 100); err != nil {
		t.Fatal(err)
	}
	states = nil
	if got, err = LoadResumeKeeping(dir, keep); err != nil {
		t.Fatal(err)
	}
	if got.RecoveredFrom != dir+oldSuffix || len(states) != 2 || states[1] != string(older.State) {
		t.Errorf("with a shard it keeps nothing of truncated, the load read %q, asking keep for the states %q; want %s, the second time for %s", got.RecoveredFrom, states, dir+oldSuffix, older.State)
	}
	sameTensors(t, "Params of "+oldSuffix, got.Params, subset(older.Params, mine))
}

// TestCommitPartsRefuses: a state that says no step, parts that miss a tensor, hold one twice, name
// a tensor the model lacks, differ in holding the moments, or whose file
// the committer does not see whole (a writer on another disk) make no
// checkpoint: the previous one loads and nothing is left beside it.
func TestCommitPartsRefuses(t *testing.T) {
	for _, c := range []struct {
		name, want string
		edit       func(t *testing.T, dir string, parts []Part)
		state      string // the checkpoint's state.json, where not tinyCheckpoint's
	}{
		{name: "state", want: `"step"`, edit: func(*testing.T, string, []Part) {}, state: `{"step": 0, "seed": 1}`},
		{name: "missing", want: "no part holds tensor ln_f.bias", edit: func(_ *testing.T, _ string, p []Part) {
			p[1].Names = slices.DeleteFunc(p[1].Names, func(n string) bool { return n == "ln_f.bias" })
		}},
		{name: "twice", want: "part 1 and part 2 both hold tensor wpe.weight", edit: func(_ *testing.T, _ string, p []Part) { p[1].Names = append(p[1].Names, "wpe.weight") }},
		{name: "unknown", want: `part 2 holds tensor "h.9.ln_1.weight", which is not a parameter`, edit: func(_ *testing.T, _ string, p []Part) { p[1].Names = append(p[1].Names, "h.9.ln_1.weight") }},
		{name: "moments", want: "part 1 and part 2 differ in whether they hold the AdamW moments", edit: func(_ *testing.T, _ string, p []Part) { p[1].Optimizer = "" }},
		{name: "elsewhere", want: "part 2's", edit: func(t *testing.T, dir string, p []Part) {
			if err := os.Remove(filepath.Join(dir+tmpSuffix, p[1].Model)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "truncated", want: "but its writer wrote", edit: func(t *testing.T, dir string, p []Part) {
			if err := os.Truncate(filepath.Join(dir+tmpSuffix, optimizerDir, p[0].Optimizer), 100); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ckpt")
			before := tinyCheckpoint(1)
			mustSave(t, dir, before)
			ck := tinyCheckpoint(2)
			if c.state != "" {
				ck.State = json.RawMessage(c.state)
			}
			err := saveParts(t, dir, ck, 2, func(p []Part) { c.edit(t, dir, p) })
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "not saved") {
				t.Fatalf("CommitParts = %v, want an error saying %q and that nothing was saved", err, c.want)
			}
			got, err := LoadResume(dir)
			if err != nil {
				t.Fatal(err)
			}
			sameCheckpoint(t, got, before)
			noSiblings(t, dir)
		})
	}
}

// TestWritePartRefuses: a part written where BeginParts made no directory
// (another host's disk), or with a tensor of the wrong size, a NaN, or
// the moments of only some tensors, writes nothing and says why.
func TestWritePartRefuses(t *testing.T) {
	ck := tinyCheckpoint(1)
	dir := filepath.Join(t.TempDir(), "ckpt")
	names := splitNames(ck, 2)[0]
	if _, err := WritePart(dir, "x", 1, 2, ck.Config, subset(ck.Params, names), nil, nil); err == nil || !strings.Contains(err.Error(), "must write into one directory") {
		t.Errorf("WritePart without BeginParts = %v, want an error saying the writers must share the directory", err)
	}
	token, err := BeginParts(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A stale directory another host's disk kept from an older save: not this save's.
	if _, err := WritePart(dir, "older save's", 1, 2, ck.Config, subset(ck.Params, names), nil, nil); err == nil || !strings.Contains(err.Error(), "not the directory this save's first writer made (it holds another save's token)") {
		t.Errorf("WritePart with another token = %v, want an error saying the directory is not this save's", err)
	}
	short := subset(ck.Params, names)
	short["wpe.weight"] = short["wpe.weight"][:3]
	nan := subset(ck.Params, names)
	nan["wte.weight"] = slices.Clone(nan["wte.weight"])
	nan["wte.weight"][5] = float32(zero() / zero())
	for _, c := range []struct {
		name, want string
		k          int
		params, m  map[string][]float32
	}{
		{"short", "Params[wpe.weight] has 3 values", 1, short, nil},
		{"nan", "Params[wte.weight][5] is NaN", 1, nan, nil},
		{"moments", "M has no tensor", 1, subset(ck.Params, names), subset(ck.M, names[:1])},
		{"part 0", "part 0 of 2; parts count from 1", 0, subset(ck.Params, names), nil},
	} {
		v := c.m
		if v != nil {
			v = subset(ck.V, names)
		}
		if _, err := WritePart(dir, token, c.k, 2, ck.Config, c.params, c.m, v); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: WritePart = %v, want an error saying %q", c.name, err, c.want)
		}
	}
	if es, err := os.ReadDir(filepath.Join(dir+tmpSuffix, optimizerDir)); err != nil || len(es) != 0 {
		t.Errorf("refused parts left %d moments' files (%v)", len(es), err)
	}
	if es, err := os.ReadDir(dir + tmpSuffix); err != nil || len(es) != 2 {
		t.Errorf("refused parts left %d entries beside BeginParts' two (%v)", len(es)-2, err)
	}
}

func zero() float64 { return 0 }

// TestAbortedPartsStayRemoved: a writer still writing when the save is
// aborted (another rank failed) cannot make the removed directory again.
func TestAbortedPartsStayRemoved(t *testing.T) {
	ck := tinyCheckpoint(1)
	dir := filepath.Join(t.TempDir(), "ckpt")
	token, err := BeginParts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := AbortParts(dir); err != nil {
		t.Fatal(err)
	}
	names := splitNames(ck, 2)[1]
	if _, err := WritePart(dir, token, 2, 2, ck.Config, subset(ck.Params, names), subset(ck.M, names), subset(ck.V, names)); err == nil {
		t.Error("WritePart after AbortParts succeeded")
	}
	if _, err := os.Stat(dir + tmpSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after an aborted save and a late writer, %s.tmp is there (%v)", dir, err)
	}
}

// TestLoadRefusesBadShards: an index that names a file outside its
// directory, a tensor the model lacks, or a shard that is missing, and a
// directory with both one file and shards, are refused naming the file.
func TestLoadRefusesBadShards(t *testing.T) {
	for _, c := range []struct {
		name, want string
		edit       func(t *testing.T, dir string, ix *shardIndex)
	}{
		{"outside", `is in "../model-00001-of-00002.safetensors"; an index names .safetensors files beside it`, func(_ *testing.T, _ string, ix *shardIndex) {
			ix.WeightMap["wte.weight"] = "../model-00001-of-00002.safetensors"
		}},
		{"unknown", "unexpected tensor h.7.ln_1.weight", func(_ *testing.T, _ string, ix *shardIndex) {
			ix.WeightMap["h.7.ln_1.weight"] = "model-00001-of-00002.safetensors"
		}},
		{"unlisted", "names no shard for tensor ln_f.bias", func(_ *testing.T, _ string, ix *shardIndex) { delete(ix.WeightMap, "ln_f.bias") }},
		{"missing", "missing, though model.safetensors.index.json names it", func(t *testing.T, dir string, _ *shardIndex) {
			if err := os.Remove(filepath.Join(dir, "model-00002-of-00002.safetensors")); err != nil {
				t.Fatal(err)
			}
		}},
		// ln_f.bias, in the second shard, put in a third that is not there:
		// the third is missing, not the second's ln_f.bias unexpected.
		{"moved to a missing shard", "model-00003-of-00003.safetensors: missing, though model.safetensors.index.json names it for ln_f.bias", func(_ *testing.T, _ string, ix *shardIndex) {
			ix.WeightMap["ln_f.bias"] = "model-00003-of-00003.safetensors"
		}},
		{"both", "holds both model.safetensors and the shards of model.safetensors.index.json", func(t *testing.T, dir string, _ *shardIndex) {
			writeFile(t, filepath.Join(dir, modelFile), []byte("x"))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ckpt")
			if err := saveParts(t, dir, tinyCheckpoint(2), 2, nil); err != nil {
				t.Fatal(err)
			}
			var ix shardIndex
			raw, err := os.ReadFile(filepath.Join(dir, modelIndex))
			if err != nil || json.Unmarshal(raw, &ix) != nil {
				t.Fatal(err)
			}
			c.edit(t, dir, &ix)
			raw, _ = json.Marshal(ix)
			writeFile(t, filepath.Join(dir, modelIndex), raw)
			for name, load := range map[string]func(string) (*Checkpoint, error){"Load": Load, "LoadResume": LoadResume, "LoadWeights": LoadWeights} {
				if _, err := load(dir); err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s = %v, want an error saying %q", name, err, c.want)
				}
			}
		})
	}
}

// TestLoadHFShards: weights that transformers saved in shards (its index
// naming every tensor under "transformer.", a shard per half of the model,
// lm_head.weight tied and left out) load as the one-file fixture does.
func TestLoadHFShards(t *testing.T) {
	c := Config{V: 250, MaxT: 16, C: 16, NH: 2, L: 2}
	one := t.TempDir()
	want := hfFixture(t, one, c, nil)
	dir := t.TempDir()
	if err := os.Rename(filepath.Join(one, configFile), filepath.Join(dir, configFile)); err != nil {
		t.Fatal(err)
	}
	ix := shardIndex{WeightMap: map[string]string{}}
	shards := [2]map[string]f32View{{}, {}}
	for i, ts := range c.AllTensors() {
		file := shardName("model", i*2/len(c.AllTensors())+1, 2)
		ix.WeightMap[hfPrefix+ts.Name] = file
		shards[i*2/len(c.AllTensors())][hfPrefix+ts.Name] = f32View{shape: u64(ts.Shape), data: want[ts.Name]}
	}
	for k, views := range shards {
		var b bytes.Buffer
		if err := safetensors.SerializeToWriter(views, map[string]string{"format": "pt"}, &b); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, shardName("model", k+1, 2)), b.Bytes())
	}
	raw, _ := json.Marshal(ix)
	writeFile(t, filepath.Join(dir, modelIndex), raw)
	for name, load := range map[string]func(string) (*Checkpoint, error){"Load": Load, "LoadWeights": LoadWeights} {
		ck, err := load(dir)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for n, w := range want {
			if got := ck.Params[n]; !equal(got[:len(w)], w) {
				t.Errorf("%s: %s differs from the stored tensor", name, n)
			}
		}
	}
}
