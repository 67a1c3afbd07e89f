// The op cases of the fused ops: each against its float64 reference and, bit for bit, against its unfused form on the same backend.

package kernelstest

import (
	"fmt"
	"math"

	"baton/kernels"
)

// residualLayerNormCases check ResidualLayerNormForward. The sums res are
// LayerNorm's four kinds of rows (layerNormInput) split into a + b with a
// standard normal, so the near-eps rows sum two O(1) terms that cancel to
// O(1e-3) and the add's rounding shows in res. res is checked against the
// exact a + b; out, mean and rstd against the float64 LayerNorm of res as
// the backend stored it (under BF16 a bf16 backend normalises the rounded
// sums, as its unfused LayerNormForward would read them back), which another
// backend storing float32 sums cannot match, so under BF16 RunAgainst leaves
// them to the two references. Every case also runs ResidualForward then
// LayerNormForward on copies of the inputs and requires the same bits in all
// four outputs: the fused op must not change the training's arithmetic.
func residualLayerNormCases(tol Tolerances) []opCase {
	var cases []opCase
	for _, s := range [][2]int{{7, 8}, {37, 24}, {129, 72}, {3, 1031}, {1, 8}} {
		N, C := s[0], s[1]
		aliases := []string{"none"}
		if N == 37 {
			aliases = append(aliases, "res=a", "res=b")
		}
		for _, alias := range aliases {
			cases = append(cases, opCase{name: name("N", N, "C", C, "alias", alias), off: aligned, run: func(e *env) []result {
				return residualLayerNormCase(e, tol, N, C, alias)
			}})
		}
	}
	c := cases[1] // N=37, C=24, alias none
	c.name += ",misaligned"
	c.off = misaligned
	return append(cases, c)
}

// resLNBufs are the buffers of one ResidualLayerNormForward call (or of its
// unfused pair).
type resLNBufs struct{ res, out, mean, rstd, a, b *buf }

// resLNAlloc makes the buffers of one call on copies of a and b, res aliasing
// one of them as alias says; tag tells a second set's names apart.
func resLNAlloc(e *env, a, b []float32, alias, tag string) resLNBufs {
	var u resLNBufs
	// a and b are activations (not LayerNorm's bias b): Working.
	a, b = append([]float32(nil), a...), append([]float32(nil), b...)
	switch alias {
	case "res=a":
		u.res = e.outAs("res=a"+tag, a, kernels.Working)
		u.a, u.b = u.res, e.inAs("b"+tag, b, kernels.Working)
	case "res=b":
		u.res = e.outAs("res=b"+tag, b, kernels.Working)
		u.a, u.b = e.inAs("a"+tag, a, kernels.Working), u.res
	default:
		u.res = e.outAs("res"+tag, nan(len(a)), kernels.Working)
		u.a, u.b = e.inAs("a"+tag, a, kernels.Working), e.inAs("b"+tag, b, kernels.Working)
	}
	return u
}

func residualLayerNormCase(e *env, tol Tolerances, N, C int, alias string) []result {
	r := NewRand(seed(11, N, C))
	x := layerNormInput(r, N, C)
	a := RandF32(r, N*C)
	b := make([]float32, N*C)
	for i := range b {
		b[i] = x[i] - a[i]
	}
	w, bias := RandF32(r, C), RandF32(r, C)
	wb, bb := e.in("w", w), e.in("bias", bias) // under BF16 they round w, bias
	f := resLNAlloc(e, a, b, alias, "")
	roundIfBF16(e, a, b) // the values the backend holds, for the references below
	f.out, f.mean, f.rstd = e.out("out", nan(N*C)), e.out("mean", nan(N)), e.out("rstd", nan(N))
	e.o.ResidualLayerNormForward(f.res.b, f.out.b, f.mean.b, f.rstd.b, f.a.b, f.b.b, wb.b, bb.b, N, C)

	// The unfused pair on the same backend, on the same values.
	u := resLNAlloc(e, a, b, alias, " (unfused)")
	u.out = e.outAs("out (unfused)", nan(N*C), kernels.Working)
	u.mean, u.rstd = e.outAs("mean (unfused)", nan(N), kernels.Exact), e.outAs("rstd (unfused)", nan(N), kernels.Exact)
	e.o.ResidualForward(u.res.b, u.a.b, u.b.b, N*C)
	e.o.LayerNormForward(u.out.b, u.mean.b, u.rstd.b, u.res.b, wb.b, bb.b, N, C)

	got := [4][]float32{e.get(f.res), e.get(f.out), e.get(f.mean), e.get(f.rstd)}
	for i, ub := range []*buf{u.res, u.out, u.mean, u.rstd} {
		sameAsUnfused(e, []string{"res", "out", "mean", "rstd"}[i], got[i], e.get(ub), C)
	}

	want := F64(a)
	for i, v := range b {
		want[i] += float64(v)
	}
	out64, mean64, rstd64 := LayerNormForward(F64(got[0]), F64(w), F64(bias), N, C)
	own := e.bf16
	return []result{
		{name: "res", got: got[0], want: want, shape: shape("N", N, "C", C), tol: tol.Elementwise},
		{name: "out", got: got[1], want: out64, shape: shape("N", N, "C", C), row: C, tol: tol.LayerNorm, own: own},
		{name: "mean", got: got[2], want: mean64, shape: shape("N", N), tol: tol.LayerNorm, own: own},
		{name: "rstd", got: got[3], want: rstd64, shape: shape("N", N), row: 1, tol: tol.LayerNorm, own: own},
	}
}

// roundIfBF16 rounds each slice to bf16 in place under the BF16 preset: what
// e's allocations did to their copies.
func roundIfBF16(e *env, xs ...[]float32) {
	if e.bf16 {
		for _, x := range xs {
			RoundBF16s(x)
		}
	}
}

// sameAsUnfused reports where a fused op's output differs in any bit from
// its unfused form's on the same backend (rows of C elements, for naming).
func sameAsUnfused(e *env, tensor string, fused, unfused []float32, C int) {
	e.t.Helper()
	diff, first := 0, -1
	for i := range fused {
		if math.Float32bits(fused[i]) != math.Float32bits(unfused[i]) {
			if first < 0 {
				first = i
			}
			diff++
		}
	}
	if diff == 0 {
		return
	}
	at := fmt.Sprintf("[%d]", first)
	if len(fused) > C {
		at = fmt.Sprintf("[N:%d C:%d]", first/C, first%C)
	}
	e.t.Errorf("%s: %s: %d of %d elements differ from the unfused ops' (ResidualForward then LayerNormForward); first at %s: fused %v (0x%08x), unfused %v (0x%08x)",
		e.o.Name(), tensor, diff, len(fused), at, fused[first], math.Float32bits(fused[first]), unfused[first], math.Float32bits(unfused[first]))
}
