// The packed GEMM's bits: edge tiles, block boundaries, triangles and single rows against the element-wise reference.

package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// packedElem is the packed path's arithmetic for element (i, j) of c,
// written out: K in blocks of kcBlock, each summed from zero with one FMA
// per term in k order and added to c with one more (the first block stores
// alpha*acc when beta is 0). float64's FMA rounded to float32 stands in for
// float32's: it rounds twice, which differs from rounding once only when an
// exact result falls within 2^-53 of a float32 tie.
func packedElem(g gemmArgs, i, j int, c0 float32) float32 {
	fma := func(x, y, z float32) float32 { return float32(math.FMA(float64(x), float64(y), float64(z))) }
	v := c0
	if g.beta != 0 && g.beta != 1 {
		v *= g.beta
	}
	for k0 := 0; k0 < g.K; k0 += kcBlock {
		var acc float32
		for k := k0; k < min(k0+kcBlock, g.K); k++ {
			acc = fma(g.opA(i, k), g.opB(k, j), acc)
		}
		if k0 == 0 && g.beta == 0 {
			v = g.alpha * acc
		} else {
			v = fma(g.alpha, acc, v)
		}
	}
	return v
}

func (g gemmArgs) opA(i, k int) float32 {
	if g.transA {
		return g.a[k*g.M+i]
	}
	return g.a[i*g.K+k]
}

func (g gemmArgs) opB(k, j int) float32 {
	if g.transB {
		return g.b[j*g.K+k]
	}
	return g.b[k*g.N+j]
}

// checkPacked runs the packed Gemm and compares the given elements (all of
// them when rows and cols are nil) with packedElem, bit for bit.
func checkPacked(t *testing.T, o *Ops, g gemmArgs, rows, cols []int) {
	t.Helper()
	c0 := randF32(newRand(uint64(g.M*g.N)), g.M*g.N)
	c := cloneF32(c0)
	o.Gemm(g.transA, g.transB, g.M, g.N, g.K, g.alpha, F32(g.a), F32(g.b), g.beta, c)
	if rows == nil {
		rows, cols = upTo(g.M), upTo(g.N)
	}
	for _, i := range rows {
		for _, j := range cols {
			want := packedElem(g, i, j, c0[i*g.N+j])
			if math.Float32bits(c[i*g.N+j]) != math.Float32bits(want) {
				t.Fatalf("%dx%dx%d tA=%v tB=%v alpha=%v beta=%v: c[%d,%d] = %v, the packed arithmetic gives %v",
					g.M, g.N, g.K, g.transA, g.transB, g.alpha, g.beta, i, j, c[i*g.N+j], want)
			}
		}
	}
}

func upTo(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// bothSpans runs f with K packed whole where it fits (the default) and
// with K packed one block at a time.
func bothSpans(t *testing.T, f func(t *testing.T)) {
	t.Run("whole", f)
	defer func(v int) { kSpanMax = v }(kSpanMax)
	kSpanMax = 0
	t.Run("blocks", f)
}

// TestPackedBits pins the packed path's bits to packedElem on shapes with
// edge tiles in both directions and several K blocks, for every transpose,
// alpha and beta; and gemvVec's, which single rows take, to the same.
func TestPackedBits(t *testing.T) {
	bothSpans(t, func(t *testing.T) {
		r := newRand(11)
		o := newOps(3, avx2)
		for _, s := range [][3]int{{13, 37, 600}, {6, 16, 1}, {50, 130, 257}, {1, 5, 3}, {1, 130, 600}} {
			M, N, K := s[0], s[1], s[2]
			for _, tr := range transposes {
				for _, ab := range [][2]float32{{1, 0}, {1, 1}, {-1.5, 0.25}, {0.5, 0}} {
					g := gemmArgs{transA: tr[0], transB: tr[1], M: M, N: N, K: K, alpha: ab[0], beta: ab[1], a: randF32(r, M*K), b: randF32(r, K*N)}
					checkPacked(t, o, g, nil, nil)
				}
			}
		}
	})
}

// TestPackedBlocks crosses every block boundary (mcBlock rows, ncBlock
// columns, kcBlock of K) and checks the elements on both sides of each.
func TestPackedBlocks(t *testing.T) {
	r := newRand(12)
	o := newOps(4, avx2)
	M, N, K := mcBlock+7, ncBlock+21, kcBlock+9
	rows := []int{0, 5, 6, mcBlock - 1, mcBlock, mcBlock + 6, M - 1}
	cols := []int{0, 15, 16, ncBlock - 1, ncBlock, ncBlock + 16, N - 1}
	for _, tr := range transposes {
		g := gemmArgs{transA: tr[0], transB: tr[1], M: M, N: N, K: K, alpha: 0.5, beta: 1, a: randF32(r, M*K), b: randF32(r, K*N)}
		t.Run(fmt.Sprintf("tA=%v,tB=%v", tr[0], tr[1]), func(t *testing.T) { checkPacked(t, o, g, rows, cols) })
	}
}

// lowerTriangular is a random (T, T) matrix with zeros above its diagonal.
func lowerTriangular(r *rand.Rand, T int) []float32 {
	tri := randF32(r, T*T)
	for i := 0; i < T; i++ {
		clear(tri[i*T+i+1 : (i+1)*T])
	}
	return tri
}

// TestTriangles: skipping what a triangle says is zero gives the full
// product's bits, over several K blocks and with edge tiles.
func TestTriangles(t *testing.T) { bothSpans(t, testTriangles) }

func testTriangles(t *testing.T) {
	r := newRand(15)
	o := newOps(2, avx2)
	const T, hs = 2*kcBlock + 37, 40
	tri, b := lowerTriangular(r, T), randF32(r, T*hs)
	for _, c := range []struct {
		name   string
		transA bool
		shape  triangle
	}{{"lowerA", false, lowerA}, {"upperA", true, upperA}} {
		g := gemmArgs{transA: c.transA, M: T, N: hs, K: T, alpha: 0.5, a: tri, b: b}
		g.c = make([]float32, T*hs)
		o.gemmStrided(g, T, hs, hs, full)
		want := g.c
		g.c = randF32(r, T*hs) // overwritten: beta is 0
		o.gemmStrided(g, T, hs, hs, c.shape)
		sameBits(t, c.name, g.c, want)
	}
	a := randF32(r, T*hs)
	g := gemmArgs{transB: true, M: T, N: T, K: hs, alpha: 1, a: a, b: a}
	g.c = make([]float32, T*T)
	o.gemmStrided(g, hs, hs, T, full)
	want := g.c
	g.c = make([]float32, T*T)
	o.gemmStrided(g, hs, hs, T, lowerC)
	for i := 0; i < T; i++ {
		sameBits(t, "lowerC", g.c[i*T:i*T+i+1], want[i*T:i*T+i+1])
	}
}
