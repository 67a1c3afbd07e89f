// The warning for a vocabulary far larger than the data uses: a GPT-2-sized model fed bytes.

package runtime

import (
	"fmt"

	"baton/data"
)

// vocabWarning says when a model's vocabulary V is far larger than the
// data's largest token: most rows of its embedding and head would never be
// trained (gpt2-124m, V=50304, on byte-level text whose ids are below 256).
// Four times leaves room for a small GPT-2-token corpus that uses few ids.
func vocabWarning(V int, ds *data.Dataset) string {
	if V < 4*(ds.MaxToken+1) {
		return ""
	}
	return fmt.Sprintf("data: the model's vocabulary is %d tokens but the data's largest token is %d (%s): most rows of the embedding and the head will never be trained; for GPT-2 tokens, write shards with `baton tokenize` and train on them",
		V, ds.MaxToken, ds.Format)
}
