// Test helpers: the CPU's buffer types over kernelstest's data and references, and bit comparisons.

package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"baton/kernels/kernelstest"
)

// The op-by-op checks against float64 references (and, through the
// references' own tests, against finite differences) are the conformance
// suite's (conformance_test.go, kernels/kernelstest). The tests here are
// the CPU backend's own: determinism over worker counts, no allocations,
// bit-identical results over layouts and row subsets, edge cases of its
// blocking and of its buffers.

var transposes = [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}}

// hostISAs are the instruction sets this host runs, generic first: the
// backend's own tests run on each (avx512 too where the host has it,
// whatever BATON_CPU says).
func hostISAs() []isa {
	var s []isa
	for i := generic; i <= hostISA(); i++ {
		s = append(s, i)
	}
	return s
}

func newRand(seed uint64) *rand.Rand { return kernelstest.NewRand(seed) }

// randF32 returns n standard normal values.
func randF32(r *rand.Rand, n int) F32 { return kernelstest.RandF32(r, n) }

func randTokens(r *rand.Rand, n, V int) I32 { return kernelstest.RandTokens(r, n, V) }

func cloneF32(x []float32) F32 { return append(F32(nil), x...) }

// sameBits fails t unless a and b hold the same float32 bits, as many of
// them: a result cut short does not pass.
func sameBits(t *testing.T, name string, a, b []float32) {
	t.Helper()
	if len(a) != len(b) {
		t.Errorf("%s: %d elements vs %d", name, len(a), len(b))
		return
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Errorf("%s: element %d differs: %v vs %v", name, i, a[i], b[i])
			return
		}
	}
}
