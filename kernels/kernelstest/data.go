// Test data: seeded random inputs and exact widening to float64.

package kernelstest

import "math/rand/v2"

// NewRand returns a deterministic generator: the same seed gives the same
// inputs on every backend and every run.
func NewRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) }

// RandF32 returns n standard normal values.
func RandF32(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// RandTokens returns n token ids in [0, V).
func RandTokens(r *rand.Rand, n, V int) []int32 {
	s := make([]int32, n)
	for i := range s {
		s[i] = int32(r.IntN(V))
	}
	return s
}

// F64 widens exactly, so a reference sees the very values the op sees.
func F64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// f32 rounds to float32: the form in which a reference's saved statistics
// (LayerNorm's mean and rstd, attention's out and lse) reach a backward op.
func f32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}

// scaled returns x * s.
func scaled(x []float32, s float32) []float32 {
	for i := range x {
		x[i] *= s
	}
	return x
}

// filled returns n copies of v.
func filled(n int, v float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = v
	}
	return s
}
