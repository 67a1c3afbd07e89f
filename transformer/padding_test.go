// The head leaves the padding ids of a vocabulary out of the softmax: a model padded past its tokens' ids trains as the unpadded one.

package transformer_test

import (
	"math"
	"testing"

	"baton/kernels/cpu"
	"baton/model"
	"baton/transformer"
)

// TestPaddingIdsLeftOutOfTheSoftmax: tiny (V=256) with Vocab 200 gives the
// loss and gradients of the same weights cut to V=200, and its padding
// rows of wte no gradient at all, however large their logits would be
// (rows of 1s, here: logits far above the real ones, as GPT-2's zero rows
// are above its negative logits).
func TestPaddingIdsLeftOutOfTheSoftmax(t *testing.T) {
	const B, T, vocab = 2, 16, 200
	padded, cut := model.Presets["tiny"], model.Presets["tiny"]
	cut.V = vocab
	spec := transformer.Whole(padded)
	spec.Vocab = vocab
	big, err := transformer.NewStack(cpu.New(), padded, spec, B, T)
	if err != nil {
		t.Fatal(err)
	}
	small, err := transformer.NewStack(cpu.New(), cut, transformer.Whole(cut), B, T)
	if err != nil {
		t.Fatal(err)
	}
	big.Init(7)
	wte := big.P.Index("wte.weight")
	rows := big.Read(big.P, wte)
	for i := vocab * padded.C; i < len(rows); i++ {
		rows[i] = 1
	}
	big.Write(big.P, wte, rows)
	for i, spec := range big.P.Specs {
		v := big.Read(big.P, i)
		if i == wte {
			v = v[:vocab*padded.C]
		}
		small.Write(small.P, small.P.Index(spec.Name), v)
	}
	tokens, targets := make([]int32, B*T), make([]int32, B*T)
	for i := range tokens { // every id of the vocabulary but the padding
		tokens[i], targets[i] = int32(i*37%vocab), int32((i*53+11)%vocab)
	}
	var loss [2]float64
	for k, s := range []*transformer.Stack{big, small} {
		acts := s.NewActs()
		s.Forward(acts, 0, tokens, targets, 1/float32(B*T))
		loss[k] = s.LossSums(1)[0] / (B * T)
		s.Backward(acts)
		s.FoldTiedGrad(nil)
	}
	if math.Abs(loss[0]-loss[1]) > 1e-6*loss[1] {
		t.Errorf("loss with the padding masked %v, of the model without it %v", loss[0], loss[1])
	}
	for i, spec := range big.G.Specs {
		got, want := big.Read(big.G, i), small.Read(small.G, small.G.Index(spec.Name))
		if i == wte {
			for j, g := range got[vocab*padded.C:] {
				if g != 0 {
					t.Fatalf("wte.weight's padding row %d has gradient %v, want exactly 0", vocab+j/padded.C, g)
				}
			}
			got = got[:vocab*padded.C]
		}
		for j := range want {
			if math.Abs(float64(got[j]-want[j])) > 1e-6+1e-4*math.Abs(float64(want[j])) {
				t.Fatalf("%s[%d]: gradient %v with the padding masked, %v without it", spec.Name, j, got[j], want[j])
			}
		}
	}
}
