// Tests of the vocabulary warning: bytes under gpt2-124m warn, GPT-2 tokens and ASCII under 256 do not.

package runtime

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"baton/data"
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
// byte-level text warns, naming both numbers.
func TestTrainerWarnsOfUnusedVocabulary(t *testing.T) {
	cfg := resumeConfig(t, corpus(t), filepath.Join(t.TempDir(), "run"), "cpu:0,cpu:1", 1)
	cfg.Model.V = 4096
	tr, err := NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for _, w := range tr.Warnings() {
		if strings.Contains(w, "vocabulary is 4096 tokens but the data's largest token is ") {
			return
		}
	}
	t.Errorf("warnings %q say nothing of the vocabulary", tr.Warnings())
}
