// A Decoder's logits, one position at a time from its cache, are a whole forward pass's.

package transformer_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"baton/kernels/cpu"
	"baton/model"
	"baton/transformer"
)

// TestDecoderMatchesForward: for prompts of every length, the logits a
// Decoder gives for each following position, computed from its cache one
// row at a time, equal those of a forward pass over the whole sequence
// within float32 rounding of their sums (on the SIMD paths the row's
// attention adds in another order than the forward's GEMMs; on the generic
// path the two are one function). At these contexts
// Start runs a one-token prompt by rows and longer ones by a forward pass.
func TestDecoderMatchesForward(t *testing.T) {
	for name, cfg := range map[string]model.Config{
		"tiny":    model.Presets["tiny"],
		"odd V,T": {V: 300, MaxT: 23, C: 48, NH: 3, L: 3}, // the head's single row ends in a tail of 4 columns; heads of 16
		"odd":     {V: 301, MaxT: 23, C: 45, NH: 3, L: 3}, // sizes no SIMD width (8 or 16 floats) divides, heads of 15
	} {
		t.Run(name, func(t *testing.T) {
			stack := func() *transformer.Stack {
				s := wholeStack(t, cfg, true, 3)
				sharpen(s)
				return s
			}
			T, V := cfg.MaxT, cfg.V
			r := rand.New(rand.NewPCG(5, 6))
			tokens := make([]int32, T)
			for i := range tokens {
				tokens[i] = int32(r.IntN(V))
			}
			want := make([]float32, T*V)
			stack().Logits(tokens, want)

			dec, err := transformer.NewDecoder(stack())
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float32, V)
			for start := 1; start <= T; start++ {
				dec.Start(tokens[:start], got)
				closeRow(t, start-1, got, want[(start-1)*V:start*V])
				for p := start; p < T; p++ {
					dec.Next(tokens[p], got)
					closeRow(t, p, got, want[p*V:(p+1)*V])
				}
				if dec.Len() != T {
					t.Fatalf("Len = %d after filling the cache, want %d", dec.Len(), T)
				}
			}
		})
	}
}

// TestDecoderMasksThePadding: with ids past the data's vocabulary padding
// the model's, the Decoder's logits of those ids are masked as a forward
// pass's are, and the others are a forward pass's.
func TestDecoderMasksThePadding(t *testing.T) {
	cfg := model.Presets["tiny"]
	stack := func() *transformer.Stack {
		spec := transformer.Whole(cfg)
		spec.Inference, spec.Vocab = true, 200
		s, err := transformer.NewStack(cpu.New(), cfg, spec, 1, cfg.MaxT)
		if err != nil {
			t.Fatal(err)
		}
		s.Init(3)
		return s
	}
	tokens := make([]int32, cfg.MaxT) // a forward pass takes a whole context
	for i := range tokens {
		tokens[i] = int32(7 * i % 200)
	}
	V := cfg.V
	want := make([]float32, len(tokens)*V)
	stack().Logits(tokens, want)
	dec, err := transformer.NewDecoder(stack())
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, V)
	dec.Start(tokens, got)
	last := want[(len(tokens)-1)*V:]
	closeRow(t, len(tokens)-1, got[:200], last[:200])
	for j := 200; j < V; j++ {
		if got[j] != last[j] || got[j] > -1e29 {
			t.Fatalf("padding id %d: logit %v from the cache, %v from a forward pass; want both masked", j, got[j], last[j])
		}
	}
}

// sharpen gives every block's attn.c_attn weights about 6 times GPT-2's
// initial spread (0.02), so that attention is far from uniform: GPT-2's initial weights make every score
// near 0, where an error in the scores' scale or in which keys a query
// sees would hardly show.
func sharpen(s *transformer.Stack) {
	for i, spec := range s.P.Specs {
		if strings.HasSuffix(spec.Name, ".attn.c_attn.weight") {
			v := make([]float32, spec.Elems())
			for j := range v {
				v[j] = 8 * float32(math.Sin(float64(7*i+j))) * 0.02
			}
			s.WriteParam(i, v, 0)
		}
	}
}

// closeRow fails t where a row of logits differs from the forward pass's
// by more than float32 rounding over the model's sums: 1e-5 of the row's
// largest magnitude.
func closeRow(t *testing.T, p int, got, want []float32) {
	t.Helper()
	scale := 0.0
	for _, w := range want {
		scale = max(scale, math.Abs(float64(w)))
	}
	for v := range want {
		if d := math.Abs(float64(got[v] - want[v])); !(d <= 1e-5*scale) {
			t.Fatalf("position %d, logit %d: %v from the cache, %v from a forward pass (differs by %.2g of the row's scale %.3g)", p, v, got[v], want[v], d/scale, scale)
		}
	}
}

// BenchmarkDecoderNext: one GPT-2 124M token through the cache, at the
// position b.N tokens after a 64-token prompt (up to the context's end).
func BenchmarkDecoderNext(b *testing.B) {
	cfg := model.Presets["gpt2-124m"]
	s := wholeStack(b, cfg, true, 1)
	dec, err := transformer.NewDecoder(s)
	if err != nil {
		b.Fatal(err)
	}
	logits := make([]float32, cfg.V)
	prompt := make([]int32, 64)
	dec.Start(prompt, logits)
	b.ResetTimer()
	for range b.N {
		if dec.Len() == dec.Cap() {
			b.StopTimer()
			dec.Start(prompt, logits)
			b.StartTimer()
		}
		dec.Next(7, logits)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}
