// config.json: a Config in Hugging Face GPT2Config form, written and checked.

package model

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// gpt2EOS is the <|endoftext|> id of GPT-2's tokenizer, its last token.
const gpt2EOS = 50256

// gpt2Vocab is the size of GPT-2's tokenizer's vocabulary.
const gpt2Vocab = gpt2EOS + 1

// hfConfig is what Save writes. The field names are GPT2Config's so that
// transformers (GPT2LMHeadModel.from_pretrained) and other tools read the
// directory; the values describe what baton actually trains.
type hfConfig struct {
	ModelType     string   `json:"model_type"`
	Architectures []string `json:"architectures"`
	VocabSize     int      `json:"vocab_size"`
	NPositions    int      `json:"n_positions"`
	NCtx          int      `json:"n_ctx"` // older readers use n_ctx for n_positions
	NEmbd         int      `json:"n_embd"`
	NLayer        int      `json:"n_layer"`
	NHead         int      `json:"n_head"`
	NInner        *int     `json:"n_inner"` // null means 4*n_embd, baton's MLP width
	// gelu_new is GELU's tanh approximation, the one the kernels compute.
	ActivationFunction string  `json:"activation_function"`
	LayerNormEpsilon   float64 `json:"layer_norm_epsilon"`
	// The LM head is wte.weight, so the file has no lm_head.weight.
	TieWordEmbeddings bool `json:"tie_word_embeddings"`
	// baton trains without dropout; zero keeps fine-tuning elsewhere faithful.
	ResidPdrop       float64 `json:"resid_pdrop"`
	EmbdPdrop        float64 `json:"embd_pdrop"`
	AttnPdrop        float64 `json:"attn_pdrop"`
	InitializerRange float64 `json:"initializer_range"`
	ScaleAttnWeights bool    `json:"scale_attn_weights"`
	UseCache         bool    `json:"use_cache"`
	// Only a GPT-2 sized vocabulary has GPT-2's <|endoftext|>; for byte-level
	// and other vocabularies null stops tools from using an out-of-range id.
	BosTokenID *int   `json:"bos_token_id"`
	EosTokenID *int   `json:"eos_token_id"`
	TorchDtype string `json:"torch_dtype"`
	// A note for whoever pairs the model with GPT-2's tokenizer, whose
	// vocabulary is smaller than vocab_size; transformers keeps unknown keys
	// as attributes and ignores them, and so does Load.
	VocabNote string `json:"baton_vocab_note,omitempty"`
	// What the ids are (Checkpoint.Tokens): a GPT-2-sized vocabulary may
	// hold bytes, and a sampler must not read them as GPT-2's tokens.
	Tokens string `json:"baton_tokens,omitempty"`
}

// vocabNote explains a vocabulary that is GPT-2's padded to PaddedVocab, as
// the gpt2-124m preset and LoadHF make it; "" for any other, since Config
// does not say whether another size was padded. The padded rows are not
// zero after training: the loss's softmax spans all vocab_size logits.
func vocabNote(v int) string {
	if v == gpt2Vocab || v != PaddedVocab(gpt2Vocab) {
		return ""
	}
	return fmt.Sprintf("vocab_size is padded from GPT-2's %d tokens to %d (a multiple of %d, so GPU matmuls tile evenly); "+
		"ids %d to %d are padding that no tokenizer emits: to match GPT-2's tokenizer, keep the first %d rows of wte.weight "+
		"(model.resize_token_embeddings(%d))", gpt2Vocab, v, VocabMultiple, gpt2Vocab, v-1, gpt2Vocab, gpt2Vocab)
}

func encodeHFConfig(c Config, tokens string) ([]byte, error) {
	h := hfConfig{
		ModelType:          "gpt2",
		Architectures:      []string{"GPT2LMHeadModel"},
		VocabSize:          c.V,
		NPositions:         c.MaxT,
		NCtx:               c.MaxT,
		NEmbd:              c.C,
		NLayer:             c.L,
		NHead:              c.NH,
		ActivationFunction: "gelu_new",
		LayerNormEpsilon:   1e-5,
		TieWordEmbeddings:  true,
		InitializerRange:   0.02,
		ScaleAttnWeights:   true,
		UseCache:           true,
		TorchDtype:         "float32",
		VocabNote:          vocabNote(c.V),
		Tokens:             tokens,
	}
	if c.V > gpt2EOS && tokens != TokensBytes {
		eos := gpt2EOS
		h.BosTokenID, h.EosTokenID = &eos, &eos
	}
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// hfConfigIn is what Load reads: pointers tell a missing field from a zero,
// and only the fields that change the computation are checked; any other
// key (baton_vocab_note among them) is ignored.
type hfConfigIn struct {
	ModelType          *string  `json:"model_type"`
	VocabSize          *int     `json:"vocab_size"`
	NPositions         *int     `json:"n_positions"`
	NEmbd              *int     `json:"n_embd"`
	NLayer             *int     `json:"n_layer"`
	NHead              *int     `json:"n_head"`
	NInner             *int     `json:"n_inner"`
	ActivationFunction *string  `json:"activation_function"`
	LayerNormEpsilon   *float64 `json:"layer_norm_epsilon"`
	TieWordEmbeddings  *bool    `json:"tie_word_embeddings"`
	ScaleAttnWeights   *bool    `json:"scale_attn_weights"`
	ScaleByLayer       *bool    `json:"scale_attn_by_inverse_layer_idx"`
	Tokens             *string  `json:"baton_tokens"`
}

// JSONKind words what a field of kind k is written as in JSON, for a
// message about a file that gives it as something else (config.json here,
// run.json in runtime); "" for a kind it does not name.
func JSONKind(k reflect.Kind) string {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number without quotes"
	case reflect.Float32, reflect.Float64:
		return "a number without quotes"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string in quotes"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return ""
}

// decodeHFConfig parses config.json and returns the Config it describes and
// what its token ids are ("" where it does not say), or an error (without
// the file name; the caller adds it) naming the field.
func decodeHFConfig(data []byte) (Config, string, error) {
	var h hfConfigIn
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&h); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return Config{}, "", fmt.Errorf("field %s is a JSON %s; write it as %s", te.Field, te.Value, cmp.Or(JSONKind(te.Type.Kind()), "GPT2Config writes it"))
		}
		return Config{}, "", fmt.Errorf("not a JSON object of GPT2Config fields: %w", err)
	}
	if dec.More() {
		return Config{}, "", fmt.Errorf("extra data after the JSON object; rewrite the file with one object")
	}
	required := []struct {
		name string
		v    *int
	}{
		{"vocab_size", h.VocabSize},
		{"n_positions", h.NPositions},
		{"n_embd", h.NEmbd},
		{"n_head", h.NHead},
		{"n_layer", h.NLayer},
	}
	for _, r := range required {
		if r.v == nil {
			return Config{}, "", fmt.Errorf("missing field %s; add it (a GPT2Config needs vocab_size, n_positions, n_embd, n_head, n_layer)", r.name)
		}
	}
	c := Config{V: *h.VocabSize, MaxT: *h.NPositions, C: *h.NEmbd, NH: *h.NHead, L: *h.NLayer}
	if err := c.Validate(); err != nil {
		return Config{}, "", err
	}
	if h.ModelType != nil && *h.ModelType != "gpt2" {
		return Config{}, "", fmt.Errorf("model_type is %q; baton reads only \"gpt2\" checkpoints", *h.ModelType)
	}
	if h.NInner != nil && *h.NInner != 4*c.C {
		return Config{}, "", fmt.Errorf("n_inner is %d; baton's MLP width is 4*n_embd=%d: set n_inner to null or %d", *h.NInner, 4*c.C, 4*c.C)
	}
	if a := h.ActivationFunction; a != nil && *a != "gelu_new" && *a != "gelu_pytorch_tanh" {
		return Config{}, "", fmt.Errorf("activation_function is %q; baton computes only the tanh GELU (\"gelu_new\")", *a)
	}
	if e := h.LayerNormEpsilon; e != nil && *e != 1e-5 {
		return Config{}, "", fmt.Errorf("layer_norm_epsilon is %g; baton's LayerNorm uses 1e-5", *e)
	}
	if t := h.TieWordEmbeddings; t != nil && !*t {
		return Config{}, "", fmt.Errorf("tie_word_embeddings is false; baton's LM head is always wte.weight")
	}
	// reorder_and_upcast_attn is not checked: it computes the same scores
	// in float32, which baton does anyway.
	if a := h.ScaleAttnWeights; a != nil && !*a {
		return Config{}, "", fmt.Errorf("scale_attn_weights is false; baton's attention always divides its scores by sqrt(n_embd/n_head)")
	}
	if a := h.ScaleByLayer; a != nil && *a {
		return Config{}, "", fmt.Errorf("scale_attn_by_inverse_layer_idx is true; baton's attention scales every layer's scores alike (as GPT-2 does)")
	}
	tokens := ""
	if h.Tokens != nil {
		tokens = *h.Tokens
	}
	if tokens != "" && tokens != TokensBytes && tokens != TokensGPT2 {
		return Config{}, "", fmt.Errorf("baton_tokens is %q; baton writes %q (byte-level text) or %q (GPT-2's tokens): fix it or remove the key", tokens, TokensBytes, TokensGPT2)
	}
	return c, tokens, nil
}
