// A split backward (I now, W later) gives exactly the gradients of a full one.

package transformer_test

import (
	"math/rand/v2"
	"testing"

	"baton/kernels/cpu"
	"baton/model"
	"baton/transformer"
)

func TestSplitBackwardEqualsFullBackward(t *testing.T) {
	cfg := model.Presets["tiny"]
	const B, T, m = 2, 16, 3
	newStack := func() *transformer.Stack {
		s, err := transformer.NewStack(cpu.New(), cfg, transformer.Whole(cfg), B, T)
		if err != nil {
			t.Fatal(err)
		}
		s.Init(3)
		return s
	}
	r := rand.New(rand.NewPCG(5, 6))
	tokens, targets := make([][]int32, m), make([][]int32, m)
	for i := range m {
		tokens[i], targets[i] = make([]int32, B*T), make([]int32, B*T)
		for j := range tokens[i] {
			tokens[i][j], targets[i][j] = int32(r.IntN(cfg.V)), int32(r.IntN(cfg.V))
		}
	}
	full, split := newStack(), newStack()
	fullActs, splitActs := make([]*transformer.Acts, m), make([]*transformer.Acts, m)
	for i := range m {
		fullActs[i], splitActs[i] = full.NewActs(), split.NewActs()
		full.Forward(fullActs[i], i, tokens[i], targets[i], 1/float32(m*B*T))
		split.Forward(splitActs[i], i, tokens[i], targets[i], 1/float32(m*B*T))
	}
	for i := range m {
		full.Backward(fullActs[i])
		split.BackwardInput(splitActs[i])
	}
	for i := range m { // every W after every I, as a zero-bubble schedule may defer them
		split.BackwardWeight(splitActs[i])
	}
	full.FoldTiedGrad(nil)
	split.FoldTiedGrad(nil)
	for i, spec := range full.G.Specs {
		want, got := full.Read(full.G, i), split.Read(split.G, i)
		for j := range want {
			if got[j] != want[j] {
				t.Fatalf("%s[%d]: split %v, full %v", spec.Name, j, got[j], want[j])
			}
		}
	}
}
