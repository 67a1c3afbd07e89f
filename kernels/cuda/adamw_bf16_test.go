//go:build cuda

// AdamW under BF16: the bf16 copy of a parameter is its master rounded (to nearest, bit
// for bit as kernelstest.RoundBF16), the master is updated exactly as a float32
// parameter, and stochastic rounding is deterministic from its seed and unbiased.

package cuda

import (
	"math"
	"testing"

	"baton/kernels"
	"baton/kernels/kernelstest"
)

// bf16Copy downloads the bf16 copy of a parameter (not its master), widened exactly.
func bf16Copy(o *Ops, p kernels.Buffer) []float32 {
	b := p.(Buf)
	h := make([]float32, b.N)
	o.Download(h, Buf{Ptr: b.Ptr, N: b.N, BF16: true})
	return h
}

// adamBF16 is one AdamW problem in both precisions: a bf16 parameter (a view one
// element into its allocation) with bf16 gradients, and the same values in float32.
type adamBF16 struct {
	n                      int
	params, grads, m, v    kernels.Buffer // on the BF16 Ops
	params32, grads32, m32 kernels.Buffer // on the FP32 Ops (m32: m, then v)
}

func newAdamBF16(t *testing.T, o, o32 *Ops, p0 []float32) *adamBF16 {
	n := len(p0)
	view := func(ops *Ops, s kernels.Storage, data []float32) kernels.Buffer {
		all := ops.AllocAs(n+2, s)
		v := ops.Slice(all, 1, n) // misaligned: 2 bytes into a bf16 allocation
		ops.Upload(v, data)
		return v
	}
	a := &adamBF16{n: n}
	a.params, a.params32 = view(o, kernels.Weights, p0), view(o32, kernels.Exact, p0)
	a.grads, a.grads32 = view(o, kernels.Working, make([]float32, n)), view(o32, kernels.Exact, make([]float32, n))
	a.m, a.v = view(o, kernels.Exact, make([]float32, n)), view(o, kernels.Exact, make([]float32, n))
	a.m32 = o32.AllocAs(2*n, kernels.Exact)
	return a
}

// step uploads the gradients g (rounded to bf16, so that both precisions see the same)
// and runs AdamW step t in both.
func (a *adamBF16) step(o, o32 *Ops, g []float32, hp kernels.AdamParams, scale float32, t int) {
	g = kernelstest.RoundBF16s(append([]float32(nil), g...))
	o.Upload(a.grads, g)
	o32.Upload(a.grads32, g)
	o.AdamW(a.params, a.grads, a.m, a.v, a.n, hp, scale, t)
	o32.AdamW(a.params32, a.grads32, o32.Slice(a.m32, 0, a.n), o32.Slice(a.m32, a.n, a.n), a.n, hp, scale, t)
}

// TestAdamWBF16CopyIsRoundedMaster: after every step the bf16 copy is RoundBF16(master)
// bit for bit, and the master is bit-identical to the float32 kernel's parameter on
// the same inputs (the update is the same float32 arithmetic).
func TestAdamWBF16CopyIsRoundedMaster(t *testing.T) {
	o, o32 := testOps(t, kernels.BF16), gpu.ops[kernels.FP32]
	const n = 1031
	r := kernelstest.NewRand(31)
	p0 := kernelstest.RandF32(r, n)
	p0[0], p0[1] = 1+0x1p-8, 1+3*0x1p-8 // ties before the first step
	a := newAdamBF16(t, o, o32, p0)
	hp := kernels.AdamParams{LR: 1e-2, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}
	for step := 1; step <= 3; step++ {
		a.step(o, o32, kernelstest.RandF32(r, n), hp, 0.5*float32(step), step)
		master, want32 := download(o, a.params), download(o32, a.params32)
		cp := bf16Copy(o, a.params)
		for i := range master {
			if math.Float32bits(master[i]) != math.Float32bits(want32[i]) {
				t.Fatalf("step %d: master %d is %v, the float32 kernel's parameter %v", step, i, master[i], want32[i])
			}
			if w := kernelstest.RoundBF16(master[i]); math.Float32bits(cp[i]) != math.Float32bits(w) {
				t.Fatalf("step %d: bf16 copy %d is %#08x, RoundBF16(master %v) = %#08x", step, i, math.Float32bits(cp[i]), master[i], math.Float32bits(w))
			}
		}
	}
}

// TestAdamWBF16StochasticRounding: with lr = 0 the master stays x, so the copy is one
// stochastic rounding of x per element (each index its own random bits). Every
// rounding is one of x's two bf16 neighbours; the same seed and step give the same
// bits; another seed or step other bits; and the mean over n elements is x within
// 5 standard deviations of a mean of n independent roundings, 5·ulp·sqrt(p(1-p)/n)
// (p: the fraction of an ulp x lies above its lower neighbour). Rounding to nearest
// is off by p·ulp on every element, far outside that bound.
func TestAdamWBF16StochasticRounding(t *testing.T) {
	o, o32 := testOps(t, kernels.BF16), gpu.ops[kernels.FP32]
	t.Cleanup(func() { o.SetBF16Rounding(false, 0) })
	const n = 1 << 16
	for _, c := range []struct {
		x, lo, hi float32
	}{
		{1 + 0.3*0x1p-7, 1, 1 + 0x1p-7},        // p = 0.3
		{-(3 + 0.9*0x1p-6), -(3 + 0x1p-6), -3}, // p = 0.1 (toward zero)
	} {
		ulp := float64(c.hi - c.lo)
		p := (float64(c.x) - float64(c.lo)) / ulp // P(rounding to hi)
		a := newAdamBF16(t, o, o32, repeat(n, c.x))
		hp := kernels.AdamParams{LR: 0, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8}
		run := func(seed uint64, step int) []float32 {
			o.SetBF16Rounding(true, seed)
			a.step(o, o32, make([]float32, n), hp, 1, step)
			return bf16Copy(o, a.params)
		}
		first := run(42, 1)
		if again := run(42, 1); !sameFloats(again, first) {
			t.Errorf("x=%v: the same seed and step gave other roundings", c.x)
		}
		if other := run(43, 1); sameFloats(other, first) {
			t.Errorf("x=%v: seeds 42 and 43 gave the same roundings", c.x)
		}
		if other := run(42, 2); sameFloats(other, first) {
			t.Errorf("x=%v: steps 1 and 2 gave the same roundings", c.x)
		}
		sum, up := 0.0, 0
		for i, y := range first {
			if y != c.lo && y != c.hi {
				t.Fatalf("x=%v: element %d rounded to %v, not to %v or %v", c.x, i, y, c.lo, c.hi)
			}
			if y == c.hi {
				up++
			}
			sum += float64(y)
		}
		mean := sum / n
		bound := 5 * math.Abs(ulp) * math.Sqrt(p*(1-p)/n)
		if d := math.Abs(mean - float64(c.x)); d > bound {
			t.Errorf("x=%v: the mean of %d stochastic roundings is %v, off by %.3g > %.3g (%d of %d rounded to %v, want ~%.0f)",
				c.x, n, mean, d, bound, up, n, c.hi, p*n)
		} else {
			t.Logf("x=%v: mean of %d stochastic roundings off by %.3g (bound %.3g; nearest is off by %.3g)", c.x, n, d, bound,
				math.Abs(float64(kernelstest.RoundBF16(c.x))-float64(c.x)))
		}
		if m := download(o, a.params); m[0] != c.x || m[n-1] != c.x {
			t.Errorf("x=%v: lr 0 changed the master: %v", c.x, m[0])
		}
		// Back to nearest: every copy is RoundBF16(x) again.
		o.SetBF16Rounding(false, 0)
		a.step(o, o32, make([]float32, n), hp, 1, 3)
		if cp := bf16Copy(o, a.params); cp[0] != kernelstest.RoundBF16(c.x) || cp[n-1] != kernelstest.RoundBF16(c.x) {
			t.Errorf("x=%v: nearest after stochastic gave %v, want %v", c.x, cp[0], kernelstest.RoundBF16(c.x))
		}
	}
}

// TestRoundWeightsIsAdamWsRounding: a parameter's master written from the host
// (Upload rounds its copy to nearest) and rounded by RoundWeights with AdamW's seed
// and step has the copy that AdamW's stochastic rounding wrote, bit for bit, at
// every element on both of AdamW's paths (the view is misaligned: one element at a
// time; an aligned one: packs of 8, and the tail). Another step's bits differ; with
// rounding to nearest, RoundWeights leaves Upload's copy.
func TestRoundWeightsIsAdamWsRounding(t *testing.T) {
	o, o32 := testOps(t, kernels.BF16), gpu.ops[kernels.FP32]
	t.Cleanup(func() { o.SetBF16Rounding(false, 0) })
	const n, step = 1031, 7 // 128 packs of 8 and a tail of 7 where aligned
	r := kernelstest.NewRand(47)
	hp := kernels.AdamParams{LR: 1e-2, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, Seed: 0xfeed}
	for _, aligned := range []bool{false, true} {
		o.SetBF16Rounding(true, 99)
		a := newAdamBF16(t, o, o32, kernelstest.RandF32(r, n))
		if aligned { // every operand a whole allocation
			a.params, a.grads = o.AllocAs(n, kernels.Weights), o.AllocAs(n, kernels.Working)
			a.m, a.v = o.AllocAs(n, kernels.Exact), o.AllocAs(n, kernels.Exact)
			o.Upload(a.params, kernelstest.RandF32(r, n))
		}
		a.step(o, o32, kernelstest.RandF32(r, n), hp, 1, step)
		want, master := bf16Copy(o, a.params), download(o, a.params)

		restored := o.AllocAs(n, kernels.Weights)
		o.Upload(restored, master)
		if sameFloats(bf16Copy(o, restored), want) {
			t.Fatalf("aligned %v: Upload's rounding to nearest already gives AdamW's stochastic copy: the test shows nothing", aligned)
		}
		o.RoundWeights(restored, hp.Seed, step)
		if got := bf16Copy(o, restored); !sameFloats(got, want) {
			t.Errorf("aligned %v: RoundWeights' copy differs from AdamW's at step %d", aligned, step)
		}
		if !sameFloats(download(o, restored), master) {
			t.Errorf("aligned %v: RoundWeights changed the master", aligned)
		}
		o.RoundWeights(restored, hp.Seed, step+1)
		if sameFloats(bf16Copy(o, restored), want) {
			t.Errorf("aligned %v: steps %d and %d rounded alike", aligned, step, step+1)
		}
		o.SetBF16Rounding(false, 0)
		o.Upload(restored, master)
		o.RoundWeights(restored, hp.Seed, step)
		for i, x := range bf16Copy(o, restored) {
			if x != kernelstest.RoundBF16(master[i]) {
				t.Fatalf("aligned %v, to nearest: element %d's copy is %v, want RoundBF16(%v)", aligned, i, x, master[i])
			}
		}
	}
}

func repeat(n int, v float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func sameFloats(a, b []float32) bool {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}

func download(o *Ops, b kernels.Buffer) []float32 {
	h := make([]float32, b.Len())
	o.Download(h, b)
	return h
}
