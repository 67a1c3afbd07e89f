// Tests of the references themselves: backward against central finite differences, and exact cases.

package kernelstest

import (
	"math"
	"math/big"
	"testing"

	"baton/kernels"
)

// In float64, central differences with step 1e-6 are good to ~1e-9
// (truncation h² ~ 1e-12, rounding eps·|L|/h ~ 1e-10), so an analytic
// backward reference that is right agrees to 1e-7 and one with a missing
// term or a wrong scale does not.
const (
	fdStep = 1e-6
	fdTol  = 1e-7
)

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

// dot is the scalar loss sum(out ⊙ R).
func dot(out, R []float64) float64 {
	var s float64
	for i, v := range out {
		s += v * R[i]
	}
	return s
}

func close64(t *testing.T, name string, got, want []float64, tol float64) {
	t.Helper()
	var maxDiff, maxWant float64
	worst := 0
	for i := range want {
		if d := math.Abs(got[i] - want[i]); d > maxDiff || math.IsNaN(d) {
			maxDiff, worst = d, i
		}
		maxWant = max(maxWant, math.Abs(want[i]))
	}
	if e := maxDiff / max(maxWant, 1e-30); !(e <= tol) {
		t.Errorf("%s: error %.3g > %.0e at %d: got %v, want %v", name, e, tol, worst, got[worst], want[worst])
	}
}

func randF64(seed uint64, n int, s float64) []float64 {
	x := F64(RandF32(NewRand(seed), n))
	for i := range x {
		x[i] *= s
	}
	return x
}

func TestEncoderBackwardRef(t *testing.T) {
	B, T, C, V := 2, 3, 4, 3 // V < B·T: tokens repeat
	inp := RandTokens(NewRand(1), B*T, V)
	wte, wpe, R := randF64(2, V*C, 1), randF64(3, T*C, 1), randF64(4, B*T*C, 1)
	loss := func() float64 { return dot(EncoderForward(inp, wte, wpe, B, T, C), R) }
	dwte, dwpe := EncoderBackward(R, inp, B, T, C, V)
	close64(t, "dwte", dwte, fdGrad(wte, loss), fdTol)
	close64(t, "dwpe", dwpe, fdGrad(wpe, loss), fdTol)
}

func TestLayerNormBackwardRef(t *testing.T) {
	N, C := 4, 5
	inp, w, b, R := randF64(5, N*C, 3), randF64(6, C, 1), randF64(7, C, 1), randF64(8, N*C, 1)
	for i := 0; i < C; i++ {
		inp[C+i] = inp[C+i]*1e-3 + 10 // variance near eps, offset mean
	}
	loss := func() float64 { out, _, _ := LayerNormForward(inp, w, b, N, C); return dot(out, R) }
	_, mean, rstd := LayerNormForward(inp, w, b, N, C)
	dinp, dw, db := LayerNormBackward(R, inp, w, mean, rstd, N, C)
	close64(t, "dinp", dinp, fdGrad(inp, loss), 1e-6) // the near-eps row has rstd ~ 300: FD loses digits
	close64(t, "dw", dw, fdGrad(w, loss), fdTol)
	close64(t, "db", db, fdGrad(b, loss), fdTol)
	_, _, rstd = LayerNormForward([]float64{2, 2, 2}, []float64{1, 1, 1}, []float64{0, 0, 0}, 1, 3)
	if want := 1 / math.Sqrt(LayerNormEps); rstd[0] != want {
		t.Errorf("rstd of a constant row = %v, want 1/sqrt(eps) = %v", rstd[0], want)
	}
}

// TestGemmRef: each transpose equals the plain product of explicitly
// transposed matrices, and beta = 0 never reads c.
func TestGemmRef(t *testing.T) {
	M, N, K := 3, 4, 5
	a, b, c := randF64(9, M*K, 1), randF64(10, K*N, 1), randF64(11, M*N, 1)
	at, bt := transpose(a, M, K), transpose(b, K, N)
	want := make([]float64, M*N)
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			var s float64
			for k := 0; k < K; k++ {
				s += a[i*K+k] * b[k*N+j]
			}
			want[i*N+j] = 0.5*s - 2*c[i*N+j]
		}
	}
	for _, tc := range []struct {
		tA, tB bool
		a, b   []float64
	}{{false, false, a, b}, {true, false, at, b}, {false, true, a, bt}, {true, true, at, bt}} {
		close64(t, "Gemm", Gemm(tc.tA, tc.tB, M, N, K, 0.5, tc.a, tc.b, -2, c), want, 1e-15)
	}
	nanC := make([]float64, M*N)
	for i := range nanC {
		nanC[i] = math.NaN()
	}
	for i, v := range Gemm(false, false, M, N, K, 1, a, b, 0, nanC) {
		if math.IsNaN(v) {
			t.Fatalf("Gemm with beta = 0 read c: element %d is NaN", i)
		}
	}
}

func transpose(x []float64, rows, cols int) []float64 {
	y := make([]float64, len(x))
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			y[j*rows+i] = x[i*cols+j]
		}
	}
	return y
}

func TestBiasBackwardRef(t *testing.T) {
	N, OC := 3, 4
	x, bias, R := randF64(12, N*OC, 1), randF64(13, OC, 1), randF64(14, N*OC, 1)
	loss := func() float64 {
		out := append([]float64(nil), x...)
		for i := range out {
			out[i] += bias[i%OC]
		}
		return dot(out, R)
	}
	close64(t, "dbias", BiasBackward(R, N, OC), fdGrad(bias, loss), fdTol)
}

func TestAttentionRef(t *testing.T) {
	for _, s := range [][4]int{{2, 4, 6, 2}, {1, 5, 9, 3}, {1, 1, 4, 1}} {
		B, T, C, NH := s[0], s[1], s[2], s[3]
		qkv, R := randF64(15, B*T*3*C, 2), randF64(16, B*T*C, 1)
		loss := func() float64 { out, _ := AttentionForward(qkv, B, T, C, NH); return dot(out, R) }
		close64(t, "dqkv", AttentionBackward(R, qkv, B, T, C, NH), fdGrad(qkv, loss), fdTol)
	}
	// One head, T = 2, hs = 1: out[1] = softmax(q1 k0, q1 k1) · (v0, v1).
	qkv := []float64{0.3, 0.7, -1.2 /* t0: q k v */, 2, -0.4, 0.9 /* t1 */}
	out, lse := AttentionForward(qkv, 1, 2, 1, 1)
	s0, s1 := 2*0.7, 2*-0.4
	want := (math.Exp(s0)*-1.2 + math.Exp(s1)*0.9) / (math.Exp(s0) + math.Exp(s1))
	close64(t, "out", out, []float64{-1.2, want}, 1e-15)
	close64(t, "lse", lse, []float64{0.3 * 0.7, math.Log(math.Exp(s0) + math.Exp(s1))}, 1e-15)
}

func TestGeluRef(t *testing.T) {
	x := randF64(17, 50, 3)
	x[0], x[1], x[2] = 0, 12, -12
	for i, v := range x {
		fd := (Gelu(v+fdStep) - Gelu(v-fdStep)) / (2 * fdStep)
		if g := GeluGrad(v); math.Abs(g-fd) > fdTol {
			t.Errorf("GeluGrad(%v) = %v, finite difference %v (element %d)", v, g, fd, i)
		}
	}
	if Gelu(0) != 0 || math.Abs(Gelu(12)-12) > 1e-12 || math.Abs(Gelu(-12)) > 1e-12 {
		t.Errorf("Gelu(0, 12, -12) = %v, %v, %v", Gelu(0), Gelu(12), Gelu(-12))
	}
}

func TestCrossEntropyRef(t *testing.T) {
	N, V := 3, 5
	logits := randF64(18, N*V, 4)
	targets := RandTokens(NewRand(19), N, V)
	const dscale = 0.25
	loss := func() float64 {
		l, _ := CrossEntropy(logits, targets, N, V, 0)
		var s float64
		for _, v := range l {
			s += v * dscale
		}
		return s
	}
	_, dl := CrossEntropy(logits, targets, N, V, dscale)
	close64(t, "dlogits", dl, fdGrad(logits, loss), fdTol)
	l, _ := CrossEntropy([]float64{1000, 0}, []int32{1}, 1, 2, 1) // no overflow
	if math.Abs(l[0]-1000) > 1e-9 {
		t.Errorf("loss of logits (1000, 0), target 1 = %v, want 1000", l[0])
	}
}

// TestSumSquaresRef: exact against big.Float on values whose squares span
// many magnitudes.
func TestSumSquaresRef(t *testing.T) {
	r := NewRand(20)
	x := make([]float32, 10000)
	for i := range x {
		x[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(9)-4)))
	}
	exact := new(big.Float).SetPrec(2000)
	for _, v := range x {
		sq := new(big.Float).SetPrec(2000).SetFloat64(float64(v))
		exact.Add(exact, sq.Mul(sq, sq))
	}
	want, _ := exact.Float64()
	if got := SumSquares(x); math.Abs(got-want) > 2e-16*want {
		t.Errorf("SumSquares = %.17g, exact %.17g", got, want)
	}
}

// TestAdamWRef: the first step from zero moments is lr·(sign(g) + wd·p)
// up to eps, whatever the betas.
func TestAdamWRef(t *testing.T) {
	hp := kernels.AdamParams{LR: 0.5, Beta1: 0.8, Beta2: 0.9, Eps: 1e-12, WeightDecay: 0.25}
	p, g := []float64{1, -2, 3}, []float64{0.3, -5, 2}
	m, v := make([]float64, 3), make([]float64, 3)
	AdamW(p, g, m, v, hp, 2, 1)
	lr, wd := float64(hp.LR), float64(hp.WeightDecay)
	want := []float64{1 - lr*(1+wd*1), -2 - lr*(-1+wd*-2), 3 - lr*(1+wd*3)}
	close64(t, "params", p, want, 1e-9)
	b1, b2 := float64(hp.Beta1), float64(hp.Beta2)
	close64(t, "m", m, []float64{(1 - b1) * 0.6, (1 - b1) * -10, (1 - b1) * 4}, 1e-15)
	close64(t, "v", v, []float64{(1 - b2) * 0.36, (1 - b2) * 100, (1 - b2) * 16}, 1e-15)
}
