// The op cases: shapes, inputs, prefills and references of every op of kernels.Ops.

package kernelstest

import (
	"fmt"
	"math"

	"baton/kernels"
)

// groups returns the cases of every op, in the order of kernels.Ops.
// Shapes mix tiny sizes, sizes just past powers of two and sizes that are
// multiples of no block size (B·T = 7, 37, 129; C = 8, 24, 72, 1031;
// heads of 3, 4, 8, 24, 64, 96; V = 11, 257, 1031; T = 1, 5, 7, 33, 130;
// GEMMs crossing 64-, 128- and 256-element blocks in M, N and K). Each op
// also runs one shape with misaligned views.
func groups(tol Tolerances) []group {
	return []group{
		{"EncoderForward", encoderCases(tol, false)},
		{"EncoderBackward", encoderCases(tol, true)},
		{"LayerNormForward", layerNormCases(tol, false)},
		{"LayerNormBackward", layerNormCases(tol, true)},
		{"Gemm", gemmCases(tol)},
		{"BiasForward", biasCases(tol, false)},
		{"BiasBackward", biasCases(tol, true)},
		{"AttentionForward", attentionCases(tol, false)},
		{"AttentionBackward", attentionCases(tol, true)},
		{"GeluForward", geluCases(tol, false)},
		{"GeluBackward", geluCases(tol, true)},
		{"ResidualForward", residualCases(tol)},
		{"CrossEntropyForwardBackward", crossEntropyCases(tol)},
		{"SumSquares", sumSquaresCases(tol)},
		{"AdamW", adamWCases(tol)},
	}
}

// addTo returns base + d: the reference of an output that accumulates.
func addTo(base []float32, d []float64) []float64 {
	out := F64(base)
	for i := range out {
		out[i] += d[i]
	}
	return out
}

func encoderCases(tol Tolerances, backward bool) []opCase {
	var cases []opCase
	for _, s := range [][4]int{{1, 7, 8, 11}, {1, 37, 24, 257}, {3, 43, 72, 11}, {2, 1, 8, 257}} {
		B, T, C, V := s[0], s[1], s[2], s[3]
		// wpe is (maxT, C) with maxT > T, as the model's is: rows T..maxT-1
		// are not read, and their gradient rows must stay as they were.
		maxT := T + 3
		cases = append(cases, opCase{name: name("B", B, "T", T, "C", C, "V", V), off: aligned, run: func(e *env) []result {
			r := NewRand(seed(1, B, T, C, V))
			tokens := RandTokens(r, B*T, V) // V = 11 < B·T: tokens repeat, gradient rows sum several terms
			inp := e.ints("inp", tokens)
			if !backward {
				wte, wpe := RandF32(r, V*C), RandF32(r, maxT*C)
				out := e.out("out", nan(B*T*C))
				e.o.EncoderForward(out.b, inp.b, e.in("wte", wte).b, e.in("wpe", wpe).b, B, T, C)
				return []result{{name: "out", got: e.get(out), want: EncoderForward(tokens, F64(wte), F64(wpe), B, T, C),
					shape: shape("B", B, "T", T, "C", C), tol: tol.Elementwise}}
			}
			dout := RandF32(r, B*T*C)
			dwte0, dwpe0 := RandF32(r, V*C), RandF32(r, maxT*C) // parameter gradients accumulate
			dwte, dwpe := e.out("dwte", dwte0), e.out("dwpe", dwpe0)
			e.o.EncoderBackward(dwte.b, dwpe.b, e.in("dout", dout).b, inp.b, B, T, C)
			gwte, gwpe := EncoderBackward(F64(dout), tokens, B, T, C, V)
			gwpe = append(gwpe, make([]float64, (maxT-T)*C)...)
			return []result{
				{name: "dwte", got: e.get(dwte), want: addTo(dwte0, gwte), base: F64(dwte0), shape: shape("V", V, "C", C), tol: tol.Sum},
				{name: "dwpe", got: e.get(dwpe), want: addTo(dwpe0, gwpe), base: F64(dwpe0), shape: shape("maxT", maxT, "C", C), tol: tol.Sum},
			}
		}})
	}
	return withMisaligned(cases, 1)
}

// layerNormInput returns (N,C) rows of four kinds: standard normal; offset
// (10 ± 3, where a one-pass float32 variance cancels); variance near the
// epsilon (± 3e-3, where eps changes rstd by a factor ~1.4, so a wrong eps
// shows); and ± 0.5.
func layerNormInput(r interface{ NormFloat64() float64 }, N, C int) []float32 {
	x := make([]float32, N*C)
	for n := 0; n < N; n++ {
		for i := 0; i < C; i++ {
			v := r.NormFloat64()
			switch n % 4 {
			case 1:
				v = 10 + 3*v
			case 2:
				v *= 3e-3
			case 3:
				v *= 0.5
			}
			x[n*C+i] = float32(v)
		}
	}
	return x
}

func layerNormCases(tol Tolerances, backward bool) []opCase {
	var cases []opCase
	for _, s := range [][2]int{{7, 8}, {37, 24}, {129, 72}, {3, 1031}, {1, 8}} {
		N, C := s[0], s[1]
		cases = append(cases, opCase{name: name("N", N, "C", C), off: aligned, run: func(e *env) []result {
			r := NewRand(seed(2, N, C))
			x, w, b := layerNormInput(r, N, C), RandF32(r, C), RandF32(r, C)
			out64, mean64, rstd64 := LayerNormForward(F64(x), F64(w), F64(b), N, C)
			inp, wb := e.in("inp", x), e.in("w", w)
			if !backward {
				out, mean, rstd := e.out("out", nan(N*C)), e.out("mean", nan(N)), e.out("rstd", nan(N))
				e.o.LayerNormForward(out.b, mean.b, rstd.b, inp.b, wb.b, e.in("b", b).b, N, C)
				return []result{
					{name: "out", got: e.get(out), want: out64, shape: shape("N", N, "C", C), row: C, tol: tol.LayerNorm},
					{name: "mean", got: e.get(mean), want: mean64, shape: shape("N", N), tol: tol.LayerNorm},
					{name: "rstd", got: e.get(rstd), want: rstd64, shape: shape("N", N), row: 1, tol: tol.LayerNorm},
				}
			}
			dout := RandF32(r, N*C)
			// All three accumulate: dw, db are parameter gradients, dinp is
			// the residual stream's gradient.
			dinp0, dw0, db0 := RandF32(r, N*C), RandF32(r, C), RandF32(r, C)
			dinp, dw, db := e.out("dinp", dinp0), e.out("dw", dw0), e.out("db", db0)
			mean, rstd := e.in("mean", f32(mean64)), e.in("rstd", f32(rstd64))
			e.o.LayerNormBackward(dinp.b, dw.b, db.b, e.in("dout", dout).b, inp.b, wb.b, mean.b, rstd.b, N, C)
			gi, gw, gb := LayerNormBackward(F64(dout), F64(x), F64(w), mean64, rstd64, N, C)
			return []result{
				{name: "dinp", got: e.get(dinp), want: addTo(dinp0, gi), base: F64(dinp0), shape: shape("N", N, "C", C), row: C, tol: tol.LayerNorm},
				{name: "dw", got: e.get(dw), want: addTo(dw0, gw), base: F64(dw0), shape: shape("C", C), tol: tol.LayerNorm},
				{name: "db", got: e.get(db), want: addTo(db0, gb), base: F64(db0), shape: shape("C", C), tol: tol.LayerNorm},
			}
		}})
	}
	return withMisaligned(cases, 1)
}

// gemmScalars are the (alpha, beta) pairs of every Gemm case: the model's
// (1, 0) and (1, 1) (gradient accumulation), and two general ones. With
// beta = 0, c is prefilled with NaN: it must not be read.
var gemmScalars = [][2]float32{{1, 0}, {1, 1}, {-1.5, 0.25}, {0.5, 0}}

func gemmCases(tol Tolerances) []opCase {
	var cases []opCase
	for _, s := range [][3]int{{7, 8, 24}, {37, 72, 8}, {129, 24, 72}, {1, 1, 1}, {130, 257, 33}, {5, 11, 1031}, {70, 130, 300}} {
		M, N, K := s[0], s[1], s[2]
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			tA, tB := tr[0], tr[1]
			cases = append(cases, opCase{name: name("M", M, "N", N, "K", K, "tA", tA, "tB", tB), off: aligned, run: func(e *env) []result {
				r := NewRand(seed(3, M, N, K, b2i(tA), b2i(tB)))
				a, b := RandF32(r, M*K), RandF32(r, K*N)
				ab := Gemm(tA, tB, M, N, K, 1, F64(a), F64(b), 0, nil) // op(a) op(b), shared by every (alpha, beta)
				ga, gb := e.in("a", a), e.in("b", b)
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
	for i := 4; i < 8; i++ { // 37x72x8, every transpose
		cases = withMisaligned(cases, i)
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
	} {
		B, T, C, NH := s[0], s[1], s[2], s[3]
		cases = append(cases, opCase{name: name("B", B, "T", T, "C", C, "NH", NH), off: aligned, run: func(e *env) []result {
			r := NewRand(seed(5, B, T, C, NH))
			// Scores of standard deviation ~4 for any head size: sharp
			// softmaxes, where an online max changes often.
			x := scaled(RandF32(r, B*T*3*C), 2)
			out64, lse64 := AttentionForward(F64(x), B, T, C, NH)
			qkv := e.in("qkv", x)
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

// geluInput is 3x standard normal (into the tails, where tanh saturates),
// with 0 and ±12 first.
func geluInput(r interface{ NormFloat64() float64 }, N int) []float32 {
	x := make([]float32, N)
	for i := range x {
		x[i] = float32(3 * r.NormFloat64())
	}
	copy(x, []float32{0, 12, -12})
	return x
}

func geluCases(tol Tolerances, backward bool) []opCase {
	var cases []opCase
	for _, N := range []int{7, 37, 1031, 1} {
		cases = append(cases, opCase{name: name("N", N), off: aligned, run: func(e *env) []result {
			r := NewRand(seed(6, N))
			x := geluInput(r, N)
			want := make([]float64, N)
			if !backward {
				out := e.out("out", nan(N))
				e.o.GeluForward(out.b, e.in("inp", x).b, N)
				for i, v := range x {
					want[i] = Gelu(float64(v))
				}
				return []result{{name: "out", got: e.get(out), want: want, tol: tol.Elementwise}}
			}
			dout := RandF32(r, N)
			dinp := e.out("dinp", nan(N)) // an activation gradient: overwritten
			e.o.GeluBackward(dinp.b, e.in("inp", x).b, e.in("dout", dout).b, N)
			for i, v := range x {
				want[i] = GeluGrad(float64(v)) * float64(dout[i])
			}
			return []result{{name: "dinp", got: e.get(dinp), want: want, tol: tol.Elementwise}}
		}})
	}
	return withMisaligned(cases, 1)
}

func residualCases(tol Tolerances) []opCase {
	var cases []opCase
	for _, N := range []int{7, 37, 1031} {
		for _, alias := range []string{"none", "out=a", "out=b"} {
			cases = append(cases, opCase{name: name("N", N, "alias", alias), off: aligned, run: func(e *env) []result {
				r := NewRand(seed(7, N))
				a, b := RandF32(r, N), RandF32(r, N)
				want := F64(a)
				for i, v := range b {
					want[i] += float64(v)
				}
				var out *buf
				switch alias {
				case "out=a":
					out = e.out("out=a", a)
					e.o.ResidualForward(out.b, out.b, e.in("b", b).b, N)
				case "out=b":
					out = e.out("out=b", b)
					e.o.ResidualForward(out.b, e.in("a", a).b, out.b, N)
				default:
					out = e.out("out", nan(N))
					e.o.ResidualForward(out.b, e.in("a", a).b, e.in("b", b).b, N)
				}
				return []result{{name: "out", got: e.get(out), want: want, tol: tol.Elementwise}}
			}})
		}
	}
	c := cases[4] // N=37, out=a
	c.name += ",misaligned"
	c.off = misaligned
	return append(cases, c)
}

func crossEntropyCases(tol Tolerances) []opCase {
	var cases []opCase
	for _, s := range [][2]int{{7, 11}, {37, 257}, {5, 1031}, {1, 11}, {6, 1024}} {
		N, V := s[0], s[1]
		for _, mode := range []string{"dlogits", "in-place", "in-place,dscale=0"} {
			cases = append(cases, opCase{name: name("N", N, "V", V) + "," + mode, off: aligned, run: func(e *env) []result {
				r := NewRand(seed(8, N, V))
				x, targets := scaled(RandF32(r, N*V), 4), RandTokens(r, N, V)
				// Row 0: a logit of 80 that is not the target (exp(80)
				// overflows float32: the row max must be subtracted; the
				// loss is ~80). Row 1: the target's logit is 80 (loss ~0).
				x[int(targets[0]+1)%V] = 80
				if N > 1 {
					x[V+int(targets[1])] = 80
				}
				// Row 2: masked logits (-Inf) at its start, where a
				// backend's first look at the row may land.
				for j := 0; N > 2 && j < 4; j++ {
					if j != int(targets[2]) {
						x[2*V+j] = float32(math.Inf(-1))
					}
				}
				dscale := 1 / float32(N)
				if mode == "in-place,dscale=0" {
					dscale = 0 // evaluation: losses only, dlogits all zero
				}
				losses := e.out("losses", nan(N))
				tg := e.ints("targets", targets)
				var dl *buf
				if mode == "dlogits" {
					dl = e.out("dlogits", nan(N*V))
					e.o.CrossEntropyForwardBackward(losses.b, dl.b, e.in("logits", x).b, tg.b, N, V, dscale)
				} else {
					dl = e.out("dlogits=logits", x)
					e.o.CrossEntropyForwardBackward(losses.b, dl.b, dl.b, tg.b, N, V, dscale)
				}
				l64, d64 := CrossEntropy(F64(x), targets, N, V, float64(dscale))
				return []result{
					{name: "losses", got: e.get(losses), want: l64, shape: shape("N", N), tol: tol.CrossEntropy},
					{name: "dlogits", got: e.get(dl), want: d64, shape: shape("N", N, "V", V), tol: tol.CrossEntropy},
				}
			}})
		}
	}
	c := cases[4] // N=37, V=257, in-place
	c.name += ",misaligned"
	c.off = misaligned
	return append(cases, c)
}

// sumSquaresCases check the value, and that it depends on the data and
// length alone: the same values at other offsets, a second call, and the
// same buffer among others in one batched call give the same float64 bits.
func sumSquaresCases(tol Tolerances) []opCase {
	var cases []opCase
	for _, n := range []int{1, 7, 1031, 1<<18 + 7} {
		cases = append(cases, opCase{name: name("n", n), off: aligned, run: func(e *env) []result {
			r := NewRand(seed(9, n))
			x := RandF32(r, n)
			want := SumSquares(x)
			xb := e.in("x", x)
			got := sumSquares(e.o, xb.b)
			if rel := math.Abs(got-want) / want; !(rel <= tol.SumSquares) {
				e.t.Errorf("SumSquares (n=%d) = %.17g, want %.17g: relative error %.3g > tol %.0e", n, got, want, rel, tol.SumSquares)
			} else if verbose() {
				e.t.Logf("SumSquares (n=%d): relative error %.2g (tol %.0e)", n, rel, tol.SumSquares)
			}
			if again := sumSquares(e.o, xb.b); math.Float64bits(again) != math.Float64bits(got) {
				e.t.Errorf("SumSquares (n=%d): a second call gave %.17g, the first %.17g", n, again, got)
			}
			for _, off := range []int{misaligned, 37} {
				o := newEnv(e.t, e.o, off)
				if other := sumSquares(e.o, o.in("x", x).b); math.Float64bits(other) != math.Float64bits(got) {
					e.t.Errorf("SumSquares (n=%d): the same values at offset %d gave %.17g, at offset %d %.17g: the order must depend on the length alone",
						n, off, other, e.off, got)
				}
				o.verify()
			}
			return nil
		}})
	}
	cases = append(cases, opCase{name: "batched", off: misaligned, run: func(e *env) []result {
		// Lengths in a mixed order, an empty buffer among them: each sum must be
		// the bits of the same buffer summed alone.
		lengths := []int{1031, 0, 1, 1<<18 + 7, 7, 1031}
		bufs := make([]kernels.Buffer, len(lengths))
		for i, n := range lengths {
			bufs[i] = e.in(name("x", i), RandF32(NewRand(seed(10, i)), n)).b
		}
		sums := make([]float64, len(bufs))
		e.o.SumSquares(sums, bufs)
		for i, b := range bufs {
			if alone := sumSquares(e.o, b); math.Float64bits(sums[i]) != math.Float64bits(alone) {
				e.t.Errorf("SumSquares of %d buffers: sums[%d] (n=%d) = %.17g, the buffer alone %.17g", len(bufs), i, lengths[i], sums[i], alone)
			}
		}
		return nil
	}})
	return cases
}

// sumSquares is SumSquares of one buffer.
func sumSquares(o kernels.Ops, b kernels.Buffer) float64 {
	var s [1]float64
	o.SumSquares(s[:], []kernels.Buffer{b})
	return s[0]
}

// adamHypers: the model's usual settings, and a second set with no weight
// decay, a long v memory and a larger eps.
var adamHypers = []kernels.AdamParams{
	{LR: 1e-2, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1},
	{LR: 1e-3, Beta1: 0.8, Beta2: 0.999, Eps: 1e-6, WeightDecay: 0},
}

// adamWCases run three steps from zero moments, each with new gradients
// and gradient scale, against the float64 update; params, m and v are
// checked after every step (the bias corrections differ at each).
func adamWCases(tol Tolerances) []opCase {
	var cases []opCase
	for _, N := range []int{7, 1031} {
		for h, hp := range adamHypers {
			cases = append(cases, opCase{name: name("N", N, "hyper", h), off: aligned, run: func(e *env) []result {
				r := NewRand(seed(10, N, h))
				p0 := RandF32(r, N)
				params, m, v := e.out("params", p0), e.out("m", make([]float32, N)), e.out("v", make([]float32, N))
				p64, m64, v64 := F64(p0), make([]float64, N), make([]float64, N)
				var res []result
				type state struct {
					name string
					b    *buf
					want []float64
				}
				for step, scale := range []float32{0.5, 1, 2} {
					t := step + 1
					g := RandF32(r, N)
					e.o.AdamW(params.b, e.in(fmt.Sprintf("grads (step %d)", t), g).b, m.b, v.b, N, hp, scale, t)
					AdamW(p64, F64(g), m64, v64, hp, float64(scale), t)
					for _, s := range []state{{"params", params, p64}, {"m", m, m64}, {"v", v, v64}} {
						res = append(res, result{name: fmt.Sprintf("%s after step %d", s.name, t), got: e.get(s.b),
							want: append([]float64(nil), s.want...), tol: tol.Elementwise})
					}
				}
				return res
			}})
		}
	}
	return withMisaligned(cases, 1)
}
