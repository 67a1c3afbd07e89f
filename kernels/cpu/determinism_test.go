// The CPU ops give the same bits on one worker or four, and allocate nothing in steady state.

package cpu

import (
	"runtime"
	"testing"

	"baton/kernels"
)

// opCase runs one op on fresh copies of fixed inputs and returns its outputs.
type opCase struct {
	name string
	run  func(o *Ops) []F32
}

// opCases are sizes big enough that every op splits its work with 4 workers.
func opCases() []opCase {
	r := newRand(70)
	const B, T, C, NH, V = 8, 32, 160, 4, 300
	const BT = B * T
	inp := randTokens(r, BT, V)
	x, w, bias := randF32(r, BT*C), randF32(r, C), randF32(r, C)
	dout := randF32(r, BT*C)
	qkv, dattn := randF32(r, BT*3*C), randF32(r, BT*C)
	wte, wpe := randF32(r, V*C), randF32(r, T*C)
	logits, targets := randF32(r, BT*V), randTokens(r, BT, V)
	big := randF32(r, 5*sumSqChunk+3)
	ga, gb := randF32(r, 130*70), randF32(r, 70*200)
	hp := kernels.AdamParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1}
	return []opCase{
		{"Gemm", func(o *Ops) []F32 {
			var outs []F32
			for _, tr := range transposes {
				c := make(F32, 130*200)
				o.Gemm(tr[0], tr[1], 130, 200, 70, 0.7, ga, gb, 0, c)
				outs = append(outs, c)
			}
			return outs
		}},
		{"Encoder", func(o *Ops) []F32 {
			out, dwte, dwpe := make(F32, BT*C), make(F32, V*C), make(F32, T*C)
			o.EncoderForward(out, inp, wte, wpe, B, T, C)
			o.EncoderBackward(dwte, dwpe, dout, inp, B, T, C)
			return []F32{out, dwte, dwpe}
		}},
		{"LayerNorm", func(o *Ops) []F32 {
			out, mean, rstd := make(F32, BT*C), make(F32, BT), make(F32, BT)
			o.LayerNormForward(out, mean, rstd, x, w, bias, BT, C)
			dinp, dw, db := make(F32, BT*C), make(F32, C), make(F32, C)
			o.LayerNormBackward(dinp, dw, db, dout, x, w, mean, rstd, BT, C)
			return []F32{out, mean, rstd, dinp, dw, db}
		}},
		{"ResidualLayerNorm", func(o *Ops) []F32 {
			res, out, mean, rstd := make(F32, BT*C), make(F32, BT*C), make(F32, BT), make(F32, BT)
			o.ResidualLayerNormForward(res, out, mean, rstd, x, dout, w, bias, BT, C)
			return []F32{res, out, mean, rstd}
		}},
		{"Bias", func(o *Ops) []F32 {
			out, db := cloneF32(x), make(F32, C)
			o.BiasForward(out, bias, BT, C)
			o.BiasBackward(db, dout, BT, C)
			return []F32{out, db}
		}},
		{"Attention", func(o *Ops) []F32 {
			out, lse, dqkv := make(F32, BT*C), make(F32, B*NH*T), make(F32, BT*3*C)
			o.AttentionForward(out, lse, qkv, B, T, C, NH)
			o.AttentionBackward(dqkv, dattn, qkv, out, lse, B, T, C, NH)
			return []F32{out, lse, dqkv}
		}},
		{"Gelu", func(o *Ops) []F32 {
			out, dinp := make(F32, BT*C), make(F32, BT*C)
			o.GeluForward(out, x, BT*C)
			o.GeluBackward(dinp, x, dout, BT*C)
			return []F32{out, dinp}
		}},
		{"CrossEntropy", func(o *Ops) []F32 {
			losses, dl := make(F32, BT), make(F32, BT*V)
			o.CrossEntropyForwardBackward(losses, dl, logits, targets, BT, V, 1.0/BT)
			return []F32{losses, dl}
		}},
		{"AdamW", func(o *Ops) []F32 {
			p, m, v := cloneF32(x), make(F32, BT*C), make(F32, BT*C)
			for step := 1; step <= 2; step++ {
				o.AdamW(p, dout, m, v, BT*C, hp, 0.5, step)
			}
			return []F32{p, m, v}
		}},
		{"SumSquares", func(o *Ops) []F32 {
			var s [1]float64
			o.SumSquares(s[:], []kernels.Buffer{big})
			return []F32{{float32(s[0])}, {float32(s[0] - float64(float32(s[0])))}}
		}},
	}
}

// TestDeterminism: one worker and four workers give bit-identical outputs
// on every instruction set, and the four-worker run really did split its
// work.
func TestDeterminism(t *testing.T) {
	for _, isa := range hostISAs() {
		serial, par := newOps(1, isa), newOps(4, isa)
		for _, c := range opCases() {
			want := c.run(serial)
			before := parallelRuns.Load()
			got := c.run(par)
			if parallelRuns.Load() == before {
				t.Errorf("%v %s: the 4-worker run never went parallel; enlarge the case", isa, c.name)
			}
			for i := range want {
				sameBits(t, isa.String()+" "+c.name, got[i], want[i])
			}
		}
	}
}

// TestNoAllocs: in steady state no op allocates, parallel or not (the case
// functions allocate their outputs, so each op is measured on its own).
func TestNoAllocs(t *testing.T) {
	for _, isa := range hostISAs() {
		t.Run(isa.String(), func(t *testing.T) { testNoAllocs(t, newOps(4, isa)) })
	}
}

func testNoAllocs(t *testing.T, o *Ops) {
	r := newRand(71)
	const B, T, C, NH, V = 8, 32, 160, 4, 300
	const BT = B * T
	// Buffers are converted to kernels.Buffer once, as a runtime holds them:
	// converting a slice to an interface at each call would itself allocate.
	buf := func(s []float32) kernels.Buffer { return F32(s) }
	inp, targets := kernels.Buffer(randTokens(r, BT, V)), kernels.Buffer(randTokens(r, BT, V))
	x, w, b, dout := buf(randF32(r, BT*C)), buf(randF32(r, C)), buf(randF32(r, C)), buf(randF32(r, BT*C))
	out, mean, rstd := o.Alloc(BT*C), o.Alloc(BT), o.Alloc(BT)
	dx, dw, db := o.Alloc(BT*C), o.Alloc(C), o.Alloc(C)
	qkv, dqkv, lse := buf(randF32(r, BT*3*C)), o.Alloc(BT*3*C), o.Alloc(B*NH*T)
	wte, wpe, dwte, dwpe := buf(randF32(r, V*C)), buf(randF32(r, T*C)), o.Alloc(V*C), o.Alloc(T*C)
	logits := buf(randF32(r, BT*V))
	ga, gb, gc := buf(randF32(r, 130*70)), buf(randF32(r, 70*200)), o.Alloc(130*200)
	m, v := o.Alloc(BT*C), o.Alloc(BT*C)
	sums, bufs := make([]float64, 2), []kernels.Buffer{x, dout}
	hp := kernels.AdamParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	ops := map[string]func(){
		"Gemm":             func() { o.Gemm(true, false, 130, 200, 70, 1, ga, gb, 0, gc) },
		"EncoderForward":   func() { o.EncoderForward(out, inp, wte, wpe, B, T, C) },
		"EncoderBackward":  func() { o.EncoderBackward(dwte, dwpe, dout, inp, B, T, C) },
		"LayerNormForward": func() { o.LayerNormForward(out, mean, rstd, x, w, b, BT, C) },
		"LayerNormBackward": func() {
			o.LayerNormBackward(dx, dw, db, dout, x, w, mean, rstd, BT, C)
		},
		"ResidualLayerNormForward": func() {
			o.ResidualLayerNormForward(dx, out, mean, rstd, x, dout, w, b, BT, C)
		},
		"BiasForward":       func() { o.BiasForward(out, b, BT, C) },
		"BiasBackward":      func() { o.BiasBackward(db, dout, BT, C) },
		"AttentionForward":  func() { o.AttentionForward(out, lse, qkv, B, T, C, NH) },
		"AttentionBackward": func() { o.AttentionBackward(dqkv, dout, qkv, out, lse, B, T, C, NH) },
		"GeluForward":       func() { o.GeluForward(out, x, BT*C) },
		"GeluBackward":      func() { o.GeluBackward(dx, x, dout, BT*C) },
		"ResidualForward":   func() { o.ResidualForward(out, x, dout, BT*C) },
		"CrossEntropy": func() {
			o.CrossEntropyForwardBackward(mean, logits, logits, targets, BT, V, 1)
		},
		"AdamW":      func() { o.AdamW(x, dout, m, v, BT*C, hp, 1, 1) },
		"SumSquares": func() { o.SumSquares(sums, bufs) },
		"Copy":       func() { o.Copy(dx, x) },
		"Zero":       func() { o.Zero(dx) },
	}
	for name, f := range ops {
		f() // fill the free lists
		if n := testing.AllocsPerRun(20, f); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, n)
		}
		// A garbage collection empties a sync.Pool; the free lists keep
		// their tasks and scratch across it.
		if n := testing.AllocsPerRun(3, func() { runtime.GC(); f() }); n != 0 {
			t.Errorf("%s: %v allocations per call after a garbage collection, want 0", name, n)
		}
	}
}
