//go:build cuda

// The bf16 kernels' two paths give the same bits: 128-bit packs where every view is
// 16-byte aligned (and C a multiple of 8), one element at a time where a view starts
// one element in. The packs keep each element's arithmetic and, in the LayerNorm rows,
// the order of the sums (set by C alone); for AdamW, the encoder and the bias add the
// one-element path is the form those kernels had before the packs.

package cuda

import (
	"fmt"
	"math"
	"testing"

	"baton/kernels"
	"baton/kernels/kernelstest"
)

// views makes views off elements into fresh allocations of o, freed when the test ends.
type views struct {
	o   *Ops
	off int
	all []Buf
}

func newViews(t *testing.T, o *Ops, off int) *views {
	v := &views{o: o, off: off}
	t.Cleanup(func() { tFree(o, v.all...) })
	return v
}

// of is a view of storage s holding data (under BF16 rounded to bf16).
func (v *views) of(s kernels.Storage, data []float32) kernels.Buffer {
	b := v.o.AllocAs(len(data)+v.off, s).(Buf)
	v.all = append(v.all, b)
	x := v.o.Slice(b, v.off, len(data))
	v.o.Upload(x, data)
	return x
}

func (v *views) ints(data []int32) kernels.Buffer {
	b := v.o.AllocInt(len(data) + v.off).(Buf)
	v.all = append(v.all, b)
	x := v.o.Slice(b, v.off, len(data))
	v.o.UploadInt(x, data)
	return x
}

func TestBF16PacksMatchOneElementPath(t *testing.T) {
	o := testOps(t, kernels.BF16)
	t.Cleanup(func() { o.SetBF16Rounding(false, 0) })
	const N, C = 6, 264 // C/8 = 33 packs a row: lane 0 takes two
	const B, T, V = 2, 5, 11
	hp := kernels.AdamParams{LR: 1e-2, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, Seed: 7}
	rnd := func(seed uint64, n int) []float32 { return kernelstest.RandF32(kernelstest.NewRand(seed), n) }
	tokens := []int32{3, 0, 10, 7, -1, 3, 3, 11, 5, 1} // -1 and 11 = V are out of range: NaN rows
	for _, c := range []struct {
		name string
		run  func(v *views) [][]float32 // the outputs, downloaded
	}{
		{"LayerNormForward", func(v *views) [][]float32 {
			out, mean, rstd := v.of(kernels.Working, make([]float32, N*C)), v.of(kernels.Exact, make([]float32, N)), v.of(kernels.Exact, make([]float32, N))
			o.LayerNormForward(out, mean, rstd, v.of(kernels.Working, rnd(1, N*C)), v.of(kernels.Weights, rnd(2, C)), v.of(kernels.Weights, rnd(3, C)), N, C)
			return [][]float32{download(o, out), download(o, mean), download(o, rstd)}
		}},
		{"ResidualLayerNormForward", func(v *views) [][]float32 {
			res, out := v.of(kernels.Working, make([]float32, N*C)), v.of(kernels.Working, make([]float32, N*C))
			mean, rstd := v.of(kernels.Exact, make([]float32, N)), v.of(kernels.Exact, make([]float32, N))
			a, b := v.of(kernels.Working, rnd(4, N*C)), v.of(kernels.Working, rnd(5, N*C))
			o.ResidualLayerNormForward(res, out, mean, rstd, a, b, v.of(kernels.Weights, rnd(2, C)), v.of(kernels.Weights, rnd(3, C)), N, C)
			return [][]float32{download(o, res), download(o, out), download(o, mean), download(o, rstd)}
		}},
		{"LayerNormBackward", func(v *views) [][]float32 {
			dinp, dw, db := v.of(kernels.Working, rnd(6, N*C)), v.of(kernels.Working, rnd(7, C)), v.of(kernels.Working, rnd(8, C))
			mean, rstd := v.of(kernels.Exact, rnd(9, N)), v.of(kernels.Exact, repeat(N, 1.5))
			o.LayerNormBackward(dinp, dw, db, v.of(kernels.Working, rnd(10, N*C)), v.of(kernels.Working, rnd(1, N*C)),
				v.of(kernels.Weights, rnd(2, C)), mean, rstd, N, C)
			return [][]float32{download(o, dinp), download(o, dw), download(o, db)}
		}},
		{"EncoderForward", func(v *views) [][]float32 {
			out := v.of(kernels.Working, make([]float32, B*T*C))
			o.EncoderForward(out, v.ints(tokens), v.of(kernels.Weights, rnd(11, V*C)), v.of(kernels.Weights, rnd(12, (T+1)*C)), B, T, C)
			return [][]float32{download(o, out)}
		}},
		{"EncoderBackward", func(v *views) [][]float32 {
			dwte, dwpe := v.of(kernels.Working, rnd(13, V*C)), v.of(kernels.Working, rnd(14, (T+1)*C))
			o.EncoderBackward(dwte, dwpe, v.of(kernels.Working, rnd(15, B*T*C)), v.ints(tokens), B, T, C)
			return [][]float32{download(o, dwte), download(o, dwpe)}
		}},
		{"BiasForward", func(v *views) [][]float32 {
			out := v.of(kernels.Working, rnd(16, N*C))
			o.BiasForward(out, v.of(kernels.Weights, rnd(17, C)), N, C)
			return [][]float32{download(o, out)}
		}},
		{"AdamW", func(v *views) [][]float32 { return adamTwoSteps(o, v, hp, false) }},
		{"AdamW stochastic", func(v *views) [][]float32 { return adamTwoSteps(o, v, hp, true) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			packed := c.run(newViews(t, o, 0))
			single := c.run(newViews(t, o, 1))
			for i := range packed {
				if j := firstDiff(packed[i], single[i]); j >= 0 {
					t.Errorf("output %d, element %d: packs give %v (%#08x), one element at a time %v (%#08x)",
						i, j, packed[i][j], math.Float32bits(packed[i][j]), single[i][j], math.Float32bits(single[i][j]))
				}
			}
		})
	}
}

// adamTwoSteps runs two AdamW steps of a 1031-element bf16 parameter (128 packs and
// 7 elements after them) on views of v, rounding its copy stochastically or to
// nearest, and returns the master, the bf16 copy, m and v.
func adamTwoSteps(o *Ops, v *views, hp kernels.AdamParams, stochastic bool) [][]float32 {
	const n = 1031
	o.SetBF16Rounding(stochastic, 42)
	p, m, mv := v.of(kernels.Weights, kernelstest.RandF32(kernelstest.NewRand(20), n)), v.of(kernels.Exact, make([]float32, n)), v.of(kernels.Exact, make([]float32, n))
	for step := 1; step <= 2; step++ {
		g := v.of(kernels.Working, kernelstest.RandF32(kernelstest.NewRand(uint64(20+step)), n))
		o.AdamW(p, g, m, mv, n, hp, 0.5*float32(step), step)
	}
	return [][]float32{download(o, p), bf16Copy(o, p), download(o, m), download(o, mv)}
}

// firstDiff is the first index where a and b differ in any bit, or -1.
func firstDiff(a, b []float32) int {
	if len(a) != len(b) {
		panic(fmt.Sprintf("firstDiff: lengths %d and %d", len(a), len(b)))
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}
