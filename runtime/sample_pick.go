// Drawing the next token from a position's logits: temperature, top-k and top-p (nucleus).

package runtime

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// pick draws a token from one position's logits (V): the most likely at
// temperature 0; otherwise one drawn from softmax(logits / temp) among the
// topK most likely (0: all), and of those the fewest most likely whose
// probability reaches topP (1: all), as Hugging Face's top-k and top-p
// filters keep them. probs (V) is scratch.
func pick(logits []float32, probs []float64, temp float64, topK int, topP float64, rng *rand.Rand) int {
	best := 0
	for i, l := range logits {
		if l > logits[best] {
			best = i
		}
	}
	if temp == 0 {
		return best
	}
	cut := math.Inf(-1)
	if topK > 0 && topK < len(logits) {
		sorted := make([]float64, len(logits))
		for i, l := range logits {
			sorted[i] = float64(l)
		}
		slices.SortFunc(sorted, func(a, b float64) int { return cmp.Compare(b, a) })
		cut = sorted[topK-1]
	}
	var total float64
	for i, l := range logits {
		probs[i] = 0
		if float64(l) >= cut {
			probs[i] = math.Exp((float64(l) - float64(logits[best])) / temp)
		}
		total += probs[i]
	}
	if topP < 1 {
		total = nucleus(probs, topP*total)
	}
	u := rng.Float64() * total
	for i, p := range probs {
		if u -= p; u <= 0 {
			return i
		}
	}
	return best
}

// nucleus keeps of probs (unnormalised) the most likely tokens until their
// sum reaches mass, at least one, zeroes the rest, and returns the sum
// kept. Ties go to the lower id, so that the draw is the same on every
// machine.
func nucleus(probs []float64, mass float64) float64 {
	var order []int
	for i, p := range probs {
		if p > 0 {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Or(cmp.Compare(probs[b], probs[a]), cmp.Compare(a, b)) })
	var kept float64
	for n, i := range order {
		if n > 0 && kept >= mass {
			for _, j := range order[n:] {
				probs[j] = 0
			}
			break
		}
		kept += probs[i]
	}
	return kept
}
