// The op cases of the pointwise and reducing ops: GELU, residual, cross-entropy, sums of squares, AdamW and RoundWeights.

package kernelstest

import (
	"fmt"
	"math"

	"baton/kernels"
)

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
				// a and b are activations (not LayerNorm's bias b): Working.
				var out, ab, bb *buf
				switch alias {
				case "out=a":
					out, bb = e.outAs("out=a", a, kernels.Working), e.inAs("b", b, kernels.Working)
					ab = out
				case "out=b":
					ab, out = e.inAs("a", a, kernels.Working), e.outAs("out=b", b, kernels.Working)
					bb = out
				default:
					out = e.out("out", nan(N))
					ab, bb = e.inAs("a", a, kernels.Working), e.inAs("b", b, kernels.Working)
				}
				want := F64(a) // after the buffers: under BF16 they round a and b
				for i, v := range b {
					want[i] += float64(v)
				}
				e.o.ResidualForward(out.b, ab.b, bb.b, N)
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
			xb := e.in("x", x)
			want := SumSquares(x)
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
				o := e.at(off)
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

// roundWeightsCases: RoundWeights with the seed and step of the AdamW step
// that last wrote a parameter rewrites its copy as that step rounded it, so
// neither the copy the ops read (which EncoderForward of token 0, with wpe
// zero, copies out) nor the float32 master (what Download gives) changes a
// bit, whatever the backend keeps and however it rounds. N = 1031: on the
// CUDA backend 128 packs of 8 and a tail of 7 (one by one, misaligned). The
// op's use, a master uploaded from the host, is that backend's own test:
// under BF16 the suite rounds every upload.
func roundWeightsCases() []opCase {
	const N, steps = 1031, 2
	hp := adamHypers[0]
	hp.Seed = 0xfeed
	c := opCase{name: name("N", N), off: aligned, run: func(e *env) []result {
		r := NewRand(seed(11, N))
		params := e.out("params", RandF32(r, N))
		m, v := e.out("m", make([]float32, N)), e.out("v", make([]float32, N))
		for t := 1; t <= steps; t++ {
			e.o.AdamW(params.b, e.in(fmt.Sprintf("grads (step %d)", t), RandF32(r, N)).b, m.b, v.b, N, hp, 1, t)
		}
		inp, wpe := e.ints("inp", []int32{0}), e.in("wpe", make([]float32, N))
		copyOut := func(what string) []float32 {
			out := e.out(what, nan(N))
			e.o.EncoderForward(out.b, inp.b, params.b, wpe.b, 1, 1, N)
			h := make([]float32, N)
			e.o.Download(h, out.b) // not get, which would allow a bf16 rounding
			return h
		}
		master, cp := F64(e.get(params)), F64(copyOut("the copy before"))
		e.o.RoundWeights(params.b, hp.Seed, steps)
		// Each want is also its base: the op adds nothing, so the error's
		// normaliser is errFloor and any other bits fail. Another backend
		// may keep another copy: own.
		return []result{
			{name: "params (the master) after RoundWeights", got: e.get(params), want: master, base: master, own: true},
			{name: "the copy after RoundWeights", got: copyOut("the copy after"), want: cp, base: cp, own: true},
		}
	}}
	return withMisaligned([]opCase{c}, 0)
}
