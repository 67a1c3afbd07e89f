// Test helpers: random data, float64 references, error norms, finite differences.

package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// How the backward passes are checked: every op has a float64 reference of
// its forward pass here. The float32 op's forward must match the reference
// (normalised error below fwdTol), and the op's backward must match central
// finite differences of the reference's scalar loss L = sum(out ⊙ R), R
// random and fixed, taken in float64 with step fdStep. In float64 those
// differences are good to ~1e-9 (truncation h² ~ 1e-12, rounding
// eps·|L|/h ~ 1e-10), so the tolerance measures only the float32 op's own
// rounding. Both tolerances are 1e-5 of the tensor's largest element: the
// observed errors (go test -v logs them) are 1e-8 to 3e-7, and any real bug
// (a missing term, a wrong scale or index) gives errors of order 1.
const (
	fdStep = 1e-6
	fwdTol = 1e-5
	bwdTol = 1e-5
)

var transposes = [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) }

// randF32 returns n standard normal values.
func randF32(r *rand.Rand, n int) F32 {
	s := make(F32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

func randTokens(r *rand.Rand, n, V int) I32 {
	s := make(I32, n)
	for i := range s {
		s[i] = int32(r.IntN(V))
	}
	return s
}

// f64 widens exactly, so the reference sees the very values the op sees.
func f64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

func cloneF32(x []float32) F32 { return append(F32(nil), x...) }

// normErr is max|got-want| / max|want|: the error relative to the scale of
// the whole tensor, so tiny elements do not need absurd relative precision.
func normErr(got []float32, want []float64) float64 {
	var maxDiff, maxWant float64
	for i, w := range want {
		maxDiff = max(maxDiff, math.Abs(float64(got[i])-w))
		maxWant = max(maxWant, math.Abs(w))
	}
	if math.IsNaN(maxDiff) {
		return math.Inf(1)
	}
	return maxDiff / max(maxWant, 1e-30)
}

func checkClose(t *testing.T, name string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", name, len(got), len(want))
	}
	e := normErr(got, want)
	if !(e <= tol) {
		t.Errorf("%s: normalised error %.3g > %.3g", name, e, tol)
	} else if testing.Verbose() {
		t.Logf("%s: normalised error %.3g", name, e)
	}
}

// dotR is the scalar loss sum(out ⊙ R).
func dotR(out, R []float64) float64 {
	var s float64
	for i, v := range out {
		s += v * R[i]
	}
	return s
}

// fdGrad returns dL/dx by central differences; loss reads x.
func fdGrad(x []float64, loss func() float64) []float64 {
	g := make([]float64, len(x))
	for i := range x {
		old := x[i]
		x[i] = old + fdStep
		lp := loss()
		x[i] = old - fdStep
		lm := loss()
		x[i] = old
		g[i] = (lp - lm) / (2 * fdStep)
	}
	return g
}

// naiveGemm is the triple loop of c = alpha op(a) op(b) + beta c in float64.
func naiveGemm(transA, transB bool, M, N, K int, alpha float32, a, b []float32, beta float32, c []float32) []float64 {
	return naiveGemm64(transA, transB, M, N, K, float64(alpha), f64(a), f64(b), float64(beta), f64(c))
}

func naiveGemm64(transA, transB bool, M, N, K int, alpha float64, a, b []float64, beta float64, c []float64) []float64 {
	out := make([]float64, M*N)
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			var s float64
			for k := 0; k < K; k++ {
				av := a[i*K+k]
				if transA {
					av = a[k*M+i]
				}
				bv := b[k*N+j]
				if transB {
					bv = b[j*K+k]
				}
				s += av * bv
			}
			out[i*N+j] = alpha * s
			if beta != 0 {
				out[i*N+j] += beta * c[i*N+j]
			}
		}
	}
	return out
}

// addInto returns base + d, for checking ops that accumulate.
func addInto(base []float32, d []float64) []float64 {
	out := f64(base)
	for i := range out {
		out[i] += d[i]
	}
	return out
}

func sameBits(t *testing.T, name string, a, b []float32) {
	t.Helper()
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Errorf("%s: element %d differs: %v vs %v", name, i, a[i], b[i])
			return
		}
	}
}
