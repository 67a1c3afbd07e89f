// Tests of the vocabulary warnings and mask: bytes under gpt2-124m warn and mask the ids past 255, GPT-2 tokens and ASCII under 256 do not warn; weights of one kind of ids on the other warn.

package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"baton/data"
	"baton/model"
)

func TestVocabWarning(t *testing.T) {
	for _, c := range []struct {
		V, maxToken int
		warn        bool
	}{
		{50304, 255, true},    // gpt2-124m on byte-level text
		{50304, 126, true},    // on ASCII text
		{50304, 50256, false}, // on GPT-2 shards
		{256, 126, false},     // a byte-level model on ASCII text
		{256, 255, false},
	} {
		w := vocabWarning(c.V, &data.Dataset{MaxToken: c.maxToken, Format: data.Text})
		if (w != "") != c.warn {
			t.Errorf("V=%d, largest token %d: warning %q, want one: %v", c.V, c.maxToken, w, c.warn)
		}
		if c.warn && !(strings.Contains(w, "50304") && strings.Contains(w, fmt.Sprintf(" %d ", c.maxToken))) {
			t.Errorf("warning %q does not name both numbers", w)
		}
	}
}

// TestTrainerWarnsOfUnusedVocabulary: a trainer of a 4096-token model on
// byte-level text warns, naming both numbers, and masks the ids past 255.
func TestTrainerWarnsOfUnusedVocabulary(t *testing.T) {
	cfg := resumeConfig(t, corpus(t), filepath.Join(t.TempDir(), "run"), "cpu:0,cpu:1", 1)
	cfg.Model.V = 4096
	tr, err := NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if tr.cfg.vocab != data.TextVocab {
		t.Errorf("the run masks the ids from %d on, want from %d: the bytes' ids end there", tr.cfg.vocab, data.TextVocab)
	}
	for _, w := range tr.Warnings() {
		if strings.Contains(w, "vocabulary is 4096 tokens but the data's largest token is ") {
			return
		}
	}
	t.Errorf("warnings %q say nothing of the vocabulary", tr.Warnings())
}

// TestTokensWarning: weights of one kind of ids fed the other are warned
// of, naming both; the same kind, or a checkpoint that does not say, is not.
func TestTokensWarning(t *testing.T) {
	bytesData, gpt2Data := &data.Dataset{V: data.TextVocab, Source: "corpus.txt"}, &data.Dataset{V: data.GPT2Vocab, Source: "shards"}
	for _, c := range []struct {
		tokens string
		ds     *data.Dataset
		want   string
	}{
		{model.TokensBytes, gpt2Data, "the checkpoint's ids are bytes but the data's (shards) are GPT-2 tokens"},
		{model.TokensGPT2, bytesData, "the checkpoint's ids are GPT-2 tokens but the data's (corpus.txt) are bytes"},
		{model.TokensGPT2, gpt2Data, ""},
		{model.TokensBytes, bytesData, ""},
		{"", bytesData, ""},
	} {
		w := tokensWarning(&model.Checkpoint{Tokens: c.tokens}, c.ds)
		if c.want == "" && w != "" || !strings.Contains(w, c.want) {
			t.Errorf("a checkpoint of %q ids on %s: warning %q, want one saying %q", c.tokens, c.ds.Source, w, c.want)
		}
	}
}

// TestInitFromOtherTokensWarns: a run started from a checkpoint of GPT-2
// tokens on byte-level text says so.
func TestInitFromOtherTokensWarns(t *testing.T) {
	dir := t.TempDir()
	first := resumeConfig(t, corpus(t), filepath.Join(dir, "first"), "cpu:0", 1)
	train(t, first, 0)
	cfgPath := filepath.Join(CheckpointDir(first.Out), "config.json")
	raw, err := os.ReadFile(cfgPath)
	if err != nil || !strings.Contains(string(raw), `"baton_tokens": "bytes"`) {
		t.Fatalf("premise: config.json says its ids are bytes (%v):\n%s", err, raw)
	}
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(raw), `"baton_tokens": "bytes"`, `"baton_tokens": "gpt2"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := resumeConfig(t, corpus(t), filepath.Join(dir, "second"), "cpu:0", 1)
	cfg.InitFrom = first.Out
	tr, err := NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if !slices.ContainsFunc(tr.Warnings(), func(w string) bool {
		return strings.Contains(w, "the checkpoint's ids are GPT-2 tokens but the data's")
	}) {
		t.Errorf("warnings %q say nothing of the checkpoint's GPT-2 tokens", tr.Warnings())
	}
}
