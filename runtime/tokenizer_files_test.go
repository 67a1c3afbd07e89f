// A run on GPT-2 tokens saves GPT-2's tokenizer beside the model, so transformers loads both from the checkpoint; a byte-level run does not.

package runtime

import (
	"os"
	"path/filepath"
	"testing"

	"baton/data"
	"baton/model"
)

func TestGPT2RunSavesItsTokenizer(t *testing.T) {
	dir := t.TempDir()
	tokens := make([]uint16, 4000)
	for i := range tokens {
		tokens[i] = uint16(i*7919) % data.GPT2Vocab
	}
	for _, name := range []string{"train_000000.bin", "val_000000.bin"} {
		if err := data.WriteShard(filepath.Join(dir, name), tokens); err != nil {
			t.Fatal(err)
		}
	}
	cfg := resumeConfig(t, dir, filepath.Join(dir, "run"), "cpu:0,cpu:1", 1)
	cfg.Model.V = 50304
	train(t, cfg, 0)
	ck := CheckpointDir(cfg.Out)
	for _, f := range []string{"vocab.json", "merges.txt", "tokenizer_config.json"} {
		if _, err := os.Stat(filepath.Join(ck, f)); err != nil {
			t.Errorf("the checkpoint of a GPT-2-token run has no %s: %v", f, err)
		}
	}
	if loaded, err := model.Load(ck); err != nil {
		t.Fatalf("the checkpoint with its tokenizer does not load: %v", err)
	} else if loaded.Tokens != model.TokensGPT2 {
		t.Errorf("the GPT-2-token run's checkpoint says its tokens are %q, want %q", loaded.Tokens, model.TokensGPT2)
	}

	// A byte-level run with a GPT-2-sized vocabulary (gpt2-124m on text)
	// says its ids are bytes, so that sample does not read them as GPT-2's.
	bytesRun := resumeConfig(t, corpus(t), filepath.Join(dir, "bytes"), "cpu:0", 1)
	bytesRun.Model.V = 50304
	train(t, bytesRun, 0)
	if _, err := os.Stat(filepath.Join(CheckpointDir(bytesRun.Out), "vocab.json")); err == nil {
		t.Error("a byte-level run saved GPT-2's tokenizer")
	}
	if loaded, err := model.Load(CheckpointDir(bytesRun.Out)); err != nil {
		t.Fatal(err)
	} else if loaded.Tokens != model.TokensBytes {
		t.Errorf("the byte-level run's checkpoint says its tokens are %q, want %q", loaded.Tokens, model.TokensBytes)
	}
}
