// The op cases of the matrix products: GEMM, bias and attention, forward and backward.

package kernelstest

import (
	"fmt"
	"math"
)

// gemmScalars are the (alpha, beta) pairs of every Gemm case: the model's
// (1, 0) and (1, 1) (gradient accumulation), and two general ones. With
// beta = 0, c is prefilled with NaN: it must not be read.
var gemmScalars = [][2]float32{{1, 0}, {1, 1}, {-1.5, 0.25}, {0.5, 0}}

// gemmCases cross the backends' blocks in M, N and K, and take a single
// row (M = 1: one token's matmuls when sampling) both as a scalar (1x1x1)
// and through 130 columns and 264 terms: a row's own paths (the CPU's
// gemv, 64 columns of b at a time, or 8 rows of a transposed b) and their
// edges, the last columns and a second block of K. Then the calls with no
// products (gemmScaleCases).
func gemmCases(tol Tolerances) []opCase {
	var cases []opCase
	for _, s := range [][3]int{{7, 8, 24}, {37, 72, 8}, {129, 24, 72}, {1, 1, 1}, {130, 257, 33}, {5, 11, 1031}, {70, 130, 300}, {1, 130, 264}} {
		M, N, K := s[0], s[1], s[2]
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			tA, tB := tr[0], tr[1]
			cases = append(cases, opCase{name: name("M", M, "N", N, "K", K, "tA", tA, "tB", tB), off: aligned, run: func(e *env) []result {
				r := NewRand(seed(3, M, N, K, b2i(tA), b2i(tB)))
				a, b := RandF32(r, M*K), RandF32(r, K*N)
				ga, gb := e.in("a", a), e.in("b", b)                   // first: under BF16 this rounds a and b, which the reference must see
				ab := Gemm(tA, tB, M, N, K, 1, F64(a), F64(b), 0, nil) // op(a) op(b), shared by every (alpha, beta)
				var res []result
				for _, s := range gemmScalars {
					alpha, beta := s[0], s[1]
					c0 := RandF32(r, M*N)
					if beta == 0 {
						c0 = nan(M * N)
					}
					what := fmt.Sprintf("c (alpha=%v, beta=%v)", alpha, beta)
					c := e.out(what, c0)
					e.o.Gemm(tA, tB, M, N, K, alpha, ga.b, gb.b, beta, c.b)
					// With beta != 0, C accumulates beta c0: the error is measured
					// against the product's size, not the sum's, which cancellation
					// can make arbitrarily small (TF32 rounds the product's operands).
					want := make([]float64, M*N)
					var base []float64
					if beta != 0 {
						base = make([]float64, M*N)
					}
					for i, p := range ab {
						want[i] = float64(alpha) * p
						if beta != 0 {
							base[i] = float64(beta) * float64(c0[i])
							want[i] += base[i]
						}
					}
					res = append(res, result{name: what, got: e.get(c), want: want, base: base, shape: shape("M", M, "N", N), tol: tol.Gemm})
				}
				return res
			}})
		}
	}
	for _, i := range []int{4, 5, 6, 7, 28, 30} { // 37x72x8, every transpose; 1x130x264, b as is and transposed
		cases = withMisaligned(cases, i)
	}
	return append(cases, gemmScaleCases(tol)...)
}

// gemmScaleCases are the calls with no products, K = 0 or alpha = 0,
// where c = beta c exactly and a and b are not read (ops.go): they hold
// NaN, which any product taken of them would bring into c.
func gemmScaleCases(tol Tolerances) []opCase {
	var cases []opCase
	const M, N = 7, 8
	for _, s := range []struct {
		K     int
		alpha float32
	}{{0, 1}, {24, 0}} {
		K, alpha := s.K, s.alpha
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			tA, tB := tr[0], tr[1]
			cases = append(cases, opCase{name: name("M", M, "N", N, "K", K, "alpha", alpha, "tA", tA, "tB", tB), off: aligned, run: func(e *env) []result {
				r := NewRand(seed(3, M, N, K, b2i(tA), b2i(tB)))
				a, b := e.in("a", nan(M*K)), e.in("b", nan(K*N))
				var res []result
				for _, beta := range []float32{0, 1, 0.25} {
					c0 := RandF32(r, M*N)
					if beta == 0 {
						c0 = nan(M * N)
					}
					what := fmt.Sprintf("c (alpha=%v, beta=%v)", alpha, beta)
					c := e.out(what, c0)
					e.o.Gemm(tA, tB, M, N, K, alpha, a.b, b.b, beta, c.b)
					// The op adds nothing to beta c0 (zeros for beta = 0), so the
					// error's normaliser is errFloor: any other bits fail.
					want, base := make([]float64, M*N), []float64(nil)
					if beta != 0 {
						for i, v := range c0 {
							want[i] = float64(beta) * float64(v)
						}
						base = want
					}
					res = append(res, result{name: what, got: e.get(c), want: want, base: base, shape: shape("M", M, "N", N), tol: tol.Gemm})
				}
				return res
			}})
		}
	}
	return cases
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func biasCases(tol Tolerances, backward bool) []opCase {
	var cases []opCase
	for _, s := range [][2]int{{7, 8}, {37, 72}, {129, 257}, {1031, 24}, {1, 11}} {
		N, OC := s[0], s[1]
		cases = append(cases, opCase{name: name("N", N, "OC", OC), off: aligned, run: func(e *env) []result {
			r := NewRand(seed(4, N, OC))
			if !backward {
				x, bias := RandF32(r, N*OC), RandF32(r, OC) // out holds a matmul's result; the bias is added to it
				out := e.out("out", x)
				e.o.BiasForward(out.b, e.in("bias", bias).b, N, OC)
				want := F64(x)
				for i := range want {
					want[i] += float64(bias[i%OC])
				}
				return []result{{name: "out", got: e.get(out), want: want, base: F64(x), shape: shape("N", N, "OC", OC), tol: tol.Elementwise}}
			}
			dout, db0 := RandF32(r, N*OC), RandF32(r, OC) // dbias accumulates
			db := e.out("dbias", db0)
			e.o.BiasBackward(db.b, e.in("dout", dout).b, N, OC)
			return []result{{name: "dbias", got: e.get(db), want: addTo(db0, BiasBackward(F64(dout), N, OC)), base: F64(db0),
				shape: shape("OC", OC), tol: tol.Sum}}
		}})
	}
	return withMisaligned(cases, 1)
}

func attentionCases(tol Tolerances, backward bool) []opCase {
	var cases []opCase
	for _, s := range [][4]int{ // B, T, C, NH: heads of C/NH
		{2, 5, 16, 2},    // hs 8
		{1, 33, 48, 2},   // hs 24
		{2, 1, 24, 3},    // T = 1: a query sees only itself
		{3, 7, 72, 3},    // hs 24, B·T = 21
		{1, 130, 128, 2}, // hs 64, T past 128
		{1, 33, 192, 2},  // hs 96
		{1, 130, 96, 1},  // hs 96, one head
		{2, 7, 6, 2},     // hs 3: odd
		{1, 7, 8, 2},     // hs 4, as in the transformer's small test models
		{1, 259, 16, 2},  // hs 8, T past 256: the CPU's products over keys take K in blocks of 256
	} {
		B, T, C, NH := s[0], s[1], s[2], s[3]
		cases = append(cases, opCase{name: name("B", B, "T", T, "C", C, "NH", NH), off: aligned, run: func(e *env) []result {
			r := NewRand(seed(5, B, T, C, NH))
			// Scores of standard deviation ~4 for any head size: sharp
			// softmaxes, where an online max changes often.
			x := scaled(RandF32(r, B*T*3*C), 2)
			qkv := e.in("qkv", x) // first: under BF16 this rounds x, which the references must see
			out64, lse64 := AttentionForward(F64(x), B, T, C, NH)
			if !backward {
				out, lse := e.out("out", nan(B*T*C)), e.out("lse", nan(B*NH*T))
				e.o.AttentionForward(out.b, lse.b, qkv.b, B, T, C, NH)
				return []result{
					{name: "out", got: e.get(out), want: out64, shape: shape("B", B, "T", T, "C", C), tol: tol.Attention},
					{name: "lse", got: e.get(lse), want: lse64, shape: shape("B", B, "NH", NH, "T", T), tol: tol.Attention},
				}
			}
			dout := RandF32(r, B*T*C)
			dqkv := e.out("dqkv", nan(B*T*3*C)) // overwritten, never read
			e.o.AttentionBackward(dqkv.b, e.in("dout", dout).b, qkv.b, e.in("out", f32(out64)).b, e.in("lse", f32(lse64)).b, B, T, C, NH)
			got := e.get(dqkv)
			want := AttentionBackward(F64(dout), F64(x), B, T, C, NH)
			// dq, dk and dv are checked apiece but against the scale of all
			// of dqkv: dq and dk are exactly 0 where a query sees one key (T
			// = 1), as the difference of two equal dot products, which a
			// backend computing them in two ways (fp32 and tensor cores)
			// gets to within rounding, not to the bit.
			whole := 0.0
			for _, w := range want {
				whole = max(whole, math.Abs(w))
			}
			var res []result
			for part, p := range []string{"q", "k", "v"} {
				res = append(res, result{name: "dqkv[" + p + "]", got: third(got, part, C), want: third(want, part, C),
					shape: shape("B", B, "T", T, "C", C), whole: whole, tol: tol.Attention})
			}
			return res
		}})
	}
	return withMisaligned(cases, 1)
}

// third returns part (0 q, 1 k, 2 v) of every token of a (B,T,3C) tensor, as (B,T,C).
func third[F float32 | float64](x []F, part, C int) []F {
	out := make([]F, 0, len(x)/3)
	for i := 0; i < len(x); i += 3 * C {
		out = append(out, x[i+part*C:i+(part+1)*C]...)
	}
	return out
}
