// A checkpoint of several ranks: each writes its own stages' shard, rank 0 commits them, and a rank that cannot write its part leaves the previous checkpoint whole.

package runtime

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"baton/model"
	"baton/runtime/dist"
)

// TestRanksSaveTheirOwnParts: two ranks' checkpoint is two shards under
// transformers' index, each rank's tensors in its own (the tied wte in the
// embedding's rank's only), and it loads whole. When rank 1's tensors hold
// a NaN, neither rank saves: rank 1 says the training diverged, rank 0
// names rank 1, and the previous checkpoint is as it was.
func TestRanksSaveTheirOwnParts(t *testing.T) {
	data, out := corpus(t), filepath.Join(t.TempDir(), "run")
	cfg := resumeConfig(t, data, out, "cpu:0", 4)
	trainers := joinTrainers(t, []TrainConfig{cfg, cfg})
	dir := CheckpointDir(out)
	onEach(trainers, func(r int, tr *Trainer) {
		if err := tr.save(1); err != nil {
			t.Errorf("rank %d: %v", r, err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	raw, err := os.ReadFile(filepath.Join(dir, "model.safetensors.index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ix struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &ix); err != nil {
		t.Fatal(err)
	}
	for r, tr := range trainers {
		shard := []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}[r]
		for _, st := range tr.stages {
			if st == nil {
				continue
			}
			for _, spec := range st.Stack.P.Specs {
				if got := ix.WeightMap[spec.Name]; got != shard && !(spec.Name == "wte.weight" && r == 1) {
					t.Errorf("rank %d's %s is in %q, want its own %s", r, spec.Name, got, shard)
				}
			}
		}
	}
	before, err := model.LoadResume(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Params) != len(cfg.Model.AllTensors()) {
		t.Fatalf("the checkpoint loads %d tensors, want the model's %d", len(before.Params), len(cfg.Model.AllTensors()))
	}

	last := trainers[1].stages[len(trainers[1].stages)-1].Stack
	bad := make([]float32, last.P.Specs[0].Elems())
	bad[3] = float32(math.NaN())
	last.WriteParam(0, bad, 0)
	errs := make([]error, 2)
	onEach(trainers, func(r int, tr *Trainer) { errs[r] = tr.save(2) })
	for r, want := range []string{"rank 1 could not write its part: step 2: ", "the training diverged"} {
		if errs[r] == nil || !strings.Contains(errs[r].Error(), want) {
			t.Errorf("rank %d: the save gave %v; want an error saying %q", r, errs[r], want)
		}
	}
	after, err := model.LoadResume(dir)
	if err != nil {
		t.Fatal(err)
	}
	if string(after.State) != string(before.State) {
		t.Errorf("the failed save left state %s, want step 1's %s", after.State, before.State)
	}
	for name, v := range before.Params {
		if !slices.Equal(after.Params[name], v) {
			t.Errorf("the failed save changed %s", name)
		}
	}
	if _, err := os.Stat(dir + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("the failed save left %s.tmp (%v)", dir, err)
	}
}

// TestRanksResumeHoldTheirOwnTensors: resuming, each rank keeps its own
// stages' tensors and moments of the checkpoint, not the whole model (the
// tied wte in both ends' ranks), with the values the whole load reads; and
// its own tensors of the weights it starts from (--init-from).
func TestRanksResumeHoldTheirOwnTensors(t *testing.T) {
	data, out := corpus(t), filepath.Join(t.TempDir(), "run")
	cfg := resumeConfig(t, data, out, "cpu:0", 4)
	trainers := joinTrainers(t, []TrainConfig{cfg, cfg})
	onEach(trainers, func(r int, tr *Trainer) {
		if err := tr.save(1); err != nil {
			t.Errorf("rank %d: %v", r, err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	whole, err := model.LoadResume(CheckpointDir(out))
	if err != nil {
		t.Fatal(err)
	}
	for r, tr := range trainers {
		var own []string
		for _, st := range tr.stages {
			if st == nil {
				continue // another rank's
			}
			for _, spec := range st.Stack.P.Specs {
				own = append(own, spec.Name)
			}
		}
		c := tr.cfg
		c.Resume = true
		ck, _, err := startFrom(&c, ownTensors(c))
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
		if len(ck.Params) != len(own) || len(ck.M) != len(own) || len(ck.V) != len(own) {
			t.Errorf("rank %d holds %d tensors, %d and %d moments of the checkpoint's %d; want its own %d: %q", r, len(ck.Params), len(ck.M), len(ck.V), len(whole.Params), len(own), own)
		}
		for _, name := range own {
			if !slices.Equal(ck.Params[name], whole.Params[name]) || !slices.Equal(ck.M[name], whole.M[name]) || !slices.Equal(ck.V[name], whole.V[name]) {
				t.Errorf("rank %d: %s differs from the whole checkpoint's", r, name)
			}
		}

		c = tr.cfg
		c.InitFrom = out
		if ck, _, err = startFrom(&c, ownTensors(c)); err != nil {
			t.Fatalf("rank %d, --init-from: %v", r, err)
		}
		// A run's state in the weights (a balanced split) is no part of a
		// new run from them, which splits as its own settings say.
		balancing := c
		balancing.Rebalance.Mode = "auto"
		keep := ownTensors(balancing)(c.Model, json.RawMessage(`{"step": 1, "seed": 1, "split": [1, 3]}`))
		for _, name := range own {
			if keep == nil || !keep(name) {
				t.Errorf("rank %d, --init-from with a balancing run's state: %s is not kept", r, name)
				break
			}
		}
		if len(ck.Params) != len(own) || ck.M != nil {
			t.Errorf("rank %d starts from %d tensors of the checkpoint's %d (moments %v); want its own %d and no moments", r, len(ck.Params), len(whole.Params), ck.M != nil, len(own))
		}
		for _, name := range own {
			if !slices.Equal(ck.Params[name], whole.Params[name]) {
				t.Errorf("rank %d, --init-from: %s differs from the checkpoint's", r, name)
			}
		}
	}
}

// TestMessagesAreWorded: a rank's error names what a message carries, not
// its kind's number.
func TestMessagesAreWorded(t *testing.T) {
	for tag, want := range map[dist.Tag]string{
		{Kind: msgGradient, Stage: 1, Microbatch: 3, Step: 9}: "the gradients for stage 1, micro-batch 3",
		{Kind: msgSquares, Step: 9}:                           "the gradients' sums of squares",
		{Kind: msgStop, Step: 72}:                             "whether to stop (step 72)",
		{Kind: msgData}:                                       "the checksum of its tokens",
		{Kind: 250, Step: 1}:                                  "kind 250 stage 0 micro-batch 0 step 1",
	} {
		if got := describeTag(tag); got != want {
			t.Errorf("%v is worded %q, want %q", tag, got, want)
		}
	}
	for k := msgActivation; k < msgKinds; k++ {
		if _, ok := messageWords[k]; !ok {
			t.Errorf("message kind %d has no words", k)
		}
	}
}
