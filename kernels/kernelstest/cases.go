// The op cases: every op of kernels.Ops in order, and the embedding's and LayerNorm's shapes, inputs, prefills and references.

package kernelstest

// groups returns the cases of every op, in the order of kernels.Ops.
// Shapes mix tiny sizes, sizes just past powers of two and sizes that are
// multiples of no block size (B·T = 7, 37, 129; C = 8, 24, 72, 1031;
// heads of 3, 4, 8, 24, 64, 96; V = 11, 257, 1031; T = 1, 5, 7, 33, 130, 259;
// GEMMs crossing 64-, 128- and 256-element blocks in M, N and K, a single
// row among them, and GEMMs with no products). Each op also runs one shape
// with misaligned views.
func groups(tol Tolerances) []group {
	gs := []group{
		{"EncoderForward", encoderCases(tol, false)},
		{"EncoderBackward", encoderCases(tol, true)},
		{"LayerNormForward", layerNormCases(tol, false)},
		{"ResidualLayerNormForward", residualLayerNormCases(tol)},
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
		{"RoundWeights", roundWeightsCases()},
	}
	for _, g := range gs {
		for i := range g.cases {
			g.cases[i].bf16 = tol.BF16
		}
	}
	return gs
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

// constRow is the value of layerNormCases' zero-variance rows: its sums
// over up to 1031 elements are exact in float32 too, so every backend's
// mean is the value itself and x - mean is 0, and out is b exactly; rstd
// is 1/sqrt(eps) ≈ 316, the largest there is, and the backward's dinp
// (w dout - mean(w dout)) rstd.
const constRow = -2.75

// layerNormCases take layerNormInput's rows, but row 4 (where N > 4) is
// constRow throughout: a zero variance, which only eps keeps finite.
func layerNormCases(tol Tolerances, backward bool) []opCase {
	var cases []opCase
	for _, s := range [][2]int{{7, 8}, {37, 24}, {129, 72}, {5, 1031}, {1, 8}} {
		N, C := s[0], s[1]
		cases = append(cases, opCase{name: name("N", N, "C", C), off: aligned, run: func(e *env) []result {
			r := NewRand(seed(2, N, C))
			x, w, b := layerNormInput(r, N, C), RandF32(r, C), RandF32(r, C)
			if N > 4 {
				copy(x[4*C:5*C], filled(C, constRow))
			}
			inp, wb, bb := e.in("inp", x), e.in("w", w), e.in("b", b) // first: under BF16 they round x, w, b
			out64, mean64, rstd64 := LayerNormForward(F64(x), F64(w), F64(b), N, C)
			if !backward {
				out, mean, rstd := e.out("out", nan(N*C)), e.out("mean", nan(N)), e.out("rstd", nan(N))
				e.o.LayerNormForward(out.b, mean.b, rstd.b, inp.b, wb.b, bb.b, N, C)
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
