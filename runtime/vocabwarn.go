// The warnings for a vocabulary the data does not fit: a GPT-2-sized model fed bytes, or weights of one kind of ids fed the other.

package runtime

import (
	"fmt"

	"baton/data"
	"baton/model"
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

// tokensWarning says when the checkpoint a run starts from or resumes
// (ck, nil for none) holds ids of another kind than the data's: GPT-2
// tokens fed bytes, or the reverse. Each id then stands for another symbol
// than the weights learnt, which a user switching --data by mistake must
// hear; a checkpoint that does not say (a Hugging Face model, an old baton
// one) is not judged.
func tokensWarning(ck *model.Checkpoint, ds *data.Dataset) string {
	kind := model.TokensBytes
	if ds.V == data.GPT2Vocab {
		kind = model.TokensGPT2
	}
	if ck == nil || ck.Tokens == "" || ck.Tokens == kind {
		return ""
	}
	return fmt.Sprintf("data: the checkpoint's ids are %s but the data's (%s) are %s: every id stands for another symbol than the weights learnt; train on the data the checkpoint was trained on, unless this is meant",
		tokensWords[ck.Tokens], ds.Source, tokensWords[kind])
}

// tokensWords names each kind of ids for a message.
var tokensWords = map[string]string{model.TokensBytes: "bytes", model.TokensGPT2: "GPT-2 tokens"}
