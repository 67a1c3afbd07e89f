// The vector helpers (exp with shift, GELU, column sums, sums of squares) against float64 or the generic bits.

package cpu

import (
	"math"
	"testing"
)

// TestExpShift: within 2 ulp of e^(x·scale - shift) (the product rounded
// once), zero below the smallest normal, NaN for NaN, and the sum it
// returns is the sum of what it wrote.
func TestExpShift(t *testing.T) {
	var x []float32
	for v := -100.0; v <= 80; v += 0.0137 {
		x = append(x, float32(v))
	}
	x = append(x, float32(math.Inf(-1)), -87.3, -87.4, 0, float32(math.Copysign(0, -1)), 88)
	for len(x)%8 != 0 {
		x = append(x, -1)
	}
	for _, sc := range [][2]float32{{1, 0}, {0.125, 3}, {1, 0.5}} {
		got := cloneF32(x)
		sum := expShift(&got[0], len(got), sc[0], sc[1])
		var want64 float64
		for i, v := range x {
			arg := float32(math.FMA(float64(v), float64(sc[0]), -float64(sc[1])))
			w := math.Exp(float64(arg))
			if w < 0x1p-126 {
				w = 0
			}
			want64 += float64(got[i])
			if w == 0 && got[i] == 0 {
				continue
			}
			if e := math.Abs(float64(got[i])-w) / w; !(e <= 2*0x1p-24) {
				t.Fatalf("scale %v shift %v: e^%v = %v, want %v (relative error %.3g)", sc[0], sc[1], arg, got[i], w, e)
			}
		}
		if e := math.Abs(float64(sum)-want64) / want64; e > 1e-5 {
			t.Errorf("scale %v shift %v: sum %v, the outputs add to %v", sc[0], sc[1], sum, want64)
		}
	}
	nan := []float32{float32(math.NaN()), 1, 2, 3, 4, 5, 6, 7}
	if expShift(&nan[0], 8, 1, 0); !math.IsNaN(float64(nan[0])) {
		t.Errorf("e^NaN = %v", nan[0])
	}
}

func gelu64(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(geluK*(x+0.044715*x*x*x)))
}

func geluGrad64(x float64) float64 {
	u := geluK * (x + 0.044715*x*x*x)
	th := math.Tanh(u)
	return 0.5*(1+th) + 0.5*x*(1-th*th)*geluK*(1+3*0.044715*x*x)
}

// TestGeluVec: the vector GELU and its derivative within 4e-7·max(1, |x|)
// of float64's, on every length's tail, NaN kept.
func TestGeluVec(t *testing.T) {
	var x []float32
	for v := -12.0; v <= 12; v += 0.00731 {
		x = append(x, float32(v))
	}
	x = append(x, 0, 1e-30, -1e-30, 30, -30)
	for _, n := range []int{len(x), len(x) - 3, 5} {
		xs := x[:n]
		out, dinp := make([]float32, n), cloneF32(xs) // dinp starts as dout = x: in place
		geluForwardVec(out, xs)
		geluBackwardVec(dinp, xs, dinp)
		for i, v := range xs {
			tol := 4e-7 * max(1, math.Abs(float64(v)))
			if e := math.Abs(float64(out[i]) - gelu64(float64(v))); !(e <= tol) {
				t.Fatalf("gelu(%v) = %v, want %v", v, out[i], gelu64(float64(v)))
			}
			want := geluGrad64(float64(v)) * float64(v)
			if e := math.Abs(float64(dinp[i]) - want); !(e <= tol*max(1, math.Abs(float64(v)))) {
				t.Fatalf("gelu'(%v)·%v = %v, want %v", v, v, dinp[i], want)
			}
		}
	}
	nan := []float32{float32(math.NaN())}
	if geluForwardVec(nan, nan); !math.IsNaN(float64(nan[0])) {
		t.Errorf("gelu(NaN) = %v", nan[0])
	}
}

// TestAddColSumsBits: the vector column sums give the generic bits, for
// widths with and without a tail of fewer than 32 columns.
func TestAddColSumsBits(t *testing.T) {
	r := newRand(13)
	const rows, ld = 301, 150
	src := randF32(r, rows*ld)
	for _, w := range []int{64, 45, 32, 7} {
		want, got := randF32(r, w), make([]float32, w)
		copy(got, want)
		addColSums(want, src[3:], rows, ld)
		addColSumsVec(got, src[3:], rows, ld)
		sameBits(t, "addColSums", got, want)
	}
}

// TestSumSquaresVec: within 1e-12 relative of the sum in index order, on lengths
// with and without a tail.
func TestSumSquaresVec(t *testing.T) {
	r := newRand(14)
	for _, n := range []int{0, 5, 16, 1000, 16387} {
		x := randF32(r, n)
		var want float64
		for _, v := range x {
			want += float64(v) * float64(v)
		}
		if got := sumSquaresVec(x); math.Abs(got-want) > 1e-12*want {
			t.Errorf("n=%d: %v, want %v", n, got, want)
		}
	}
}

// TestSameBitsAsGeneric: the ops whose vector form does the generic
// arithmetic in the generic order give the generic bits.
func TestSameBitsAsGeneric(t *testing.T) {
	r := newRand(16)
	const N, OC = 37, 75 // a 32-column group, then a tail; rows not a multiple of 8
	gen, vec := newOps(2, generic), newOps(2, avx2)
	x, bias, dout := randF32(r, N*OC), randF32(r, OC), randF32(r, N*OC)
	run := func(o *Ops) []F32 {
		out, sum, db := cloneF32(x), make(F32, N*OC), randF32(newRand(17), OC)
		o.BiasForward(out, F32(bias), N, OC)
		o.ResidualForward(sum, F32(x), F32(dout), N*OC)
		o.BiasBackward(db, F32(dout), N, OC)
		return []F32{out, sum, db}
	}
	want, got := run(gen), run(vec)
	for i, name := range []string{"BiasForward", "ResidualForward", "BiasBackward"} {
		sameBits(t, name, got[i], want[i])
	}
}

func TestMaxOf(t *testing.T) {
	r := newRand(18)
	for n := 1; n < 40; n++ {
		x := randF32(r, n)
		want := x[0]
		for _, v := range x {
			want = max(want, v)
		}
		if got := maxOf(x); got != want {
			t.Errorf("n=%d: %v, want %v", n, got, want)
		}
	}
}

// TestAddTo2Vec: the encoder's vector scatter gives the generic loop's bits
// on every tail length, a and b distinct or the same row.
func TestAddTo2Vec(t *testing.T) {
	r := newRand(91)
	for n := 0; n <= 41; n++ {
		x, a, b := randF32(r, n), randF32(r, n), randF32(r, n)
		ga, gb, wa, wb := cloneF32(a), cloneF32(b), cloneF32(a), cloneF32(b)
		addTo2Vec(ga, gb, x)
		for i, v := range x {
			wa[i] += v
			wb[i] += v
		}
		sameBits(t, "a", ga, wa)
		sameBits(t, "b", gb, wb)
		same, want := cloneF32(a), cloneF32(a)
		addTo2Vec(same, same, x)
		for i, v := range x {
			want[i] += v
			want[i] += v
		}
		sameBits(t, "a = b", same, want)
	}
}

// TestDotVec: within float32 rounding of the float64 dot product, on every
// tail length.
func TestDotVec(t *testing.T) {
	r := newRand(92)
	for n := 0; n <= 70; n++ {
		x, y := randF32(r, n), randF32(r, n+3) // y may be longer
		var want, mag float64
		for i, v := range x {
			want += float64(v) * float64(y[i])
			mag += math.Abs(float64(v) * float64(y[i]))
		}
		if got := dotVec(x, y); math.Abs(float64(got)-want) > 1e-6*mag+1e-30 {
			t.Fatalf("n=%d: dotVec = %v, want %v", n, got, want)
		}
	}
}

// TestSoftmaxGrad: the vector softmax gradient gives the generic loop's bits.
func TestSoftmaxGrad(t *testing.T) {
	r := newRand(93)
	const n = 64
	p, dp := randF32(r, n), randF32(r, n)
	got, want := cloneF32(dp), cloneF32(dp)
	const D, scale = float32(0.37), float32(0.125)
	softmaxGrad(&got[0], &p[0], n, D, scale)
	for i := range want {
		want[i] = p[i] * (want[i] - D) * scale
	}
	sameBits(t, "dp", got, want)
}
