// Benchmarks: go test -run X -bench . ./kernels/cpu
//
// Each reports GFLOP/s of wall time and, as cpu-GFLOP/s, of CPU time summed
// over all threads (work per core-second: robust to other processes on a
// shared machine, and equal to the wall figure divided by the cores used
// when nothing else runs).

package cpu

import (
	"testing"
	"time"

	"baton/kernels"
)

// flopMeter reports GFLOP/s for b's loop; start it after the setup.
type flopMeter struct {
	b   *testing.B
	cpu time.Duration
}

func meter(b *testing.B) flopMeter {
	b.ReportAllocs()
	return flopMeter{b: b, cpu: cpuTime()}
}

func (m flopMeter) report(flopsPerOp float64) {
	total := flopsPerOp * float64(m.b.N)
	m.b.ReportMetric(total/m.b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu := cpuTime() - m.cpu; cpu > 0 {
		m.b.ReportMetric(total/cpu.Seconds()/1e9, "cpu-GFLOP/s")
	}
}

// BenchmarkAttention: B=8, T=128, C=128, NH=4 (the small model). FLOPs
// count T(T+1)/2 (query, key) pairs per head: the forward does a score dot
// and a value axpy per pair (4·hs flops), the backward two dots and three
// axpys (10·hs); exp, max and rescaling are not counted.
func BenchmarkAttention(b *testing.B) {
	const B, T, C, NH = 8, 128, 128, 4
	r := newRand(81)
	o := New()
	qkv, dout := kernels.Buffer(randF32(r, B*T*3*C)), kernels.Buffer(randF32(r, B*T*C))
	out, lse, dqkv := o.Alloc(B*T*C), o.Alloc(B*NH*T), o.Alloc(B*T*3*C)
	pairs := float64(B*NH) * float64(T*(T+1)/2)
	hs := float64(C / NH)
	b.Run("Forward", func(b *testing.B) {
		m := meter(b)
		for b.Loop() {
			o.AttentionForward(out, lse, qkv, B, T, C, NH)
		}
		m.report(4 * hs * pairs)
	})
	b.Run("Backward", func(b *testing.B) {
		o.AttentionForward(out, lse, qkv, B, T, C, NH)
		m := meter(b)
		for b.Loop() {
			o.AttentionBackward(dqkv, dout, qkv, out, lse, B, T, C, NH)
		}
		m.report(10 * hs * pairs)
	})
	b.Run("ForwardBackward", func(b *testing.B) {
		m := meter(b)
		for b.Loop() {
			o.AttentionForward(out, lse, qkv, B, T, C, NH)
			o.AttentionBackward(dqkv, dout, qkv, out, lse, B, T, C, NH)
		}
		m.report(14 * hs * pairs)
	})
}

// BenchmarkLayerNorm: N = B*T = 1024 rows of C = 128; FLOPs are nominal
// (forward 8 per element, backward 16), to compare runs, not hardware.
func BenchmarkLayerNorm(b *testing.B) {
	const N, C = 1024, 128
	r := newRand(82)
	o := New()
	inp, w, bias, dout := kernels.Buffer(randF32(r, N*C)), kernels.Buffer(randF32(r, C)), kernels.Buffer(randF32(r, C)), kernels.Buffer(randF32(r, N*C))
	out, mean, rstd := o.Alloc(N*C), o.Alloc(N), o.Alloc(N)
	dinp, dw, db := o.Alloc(N*C), o.Alloc(C), o.Alloc(C)
	b.Run("Forward", func(b *testing.B) {
		m := meter(b)
		for b.Loop() {
			o.LayerNormForward(out, mean, rstd, inp, w, bias, N, C)
		}
		m.report(8 * N * C)
	})
	b.Run("Backward", func(b *testing.B) {
		m := meter(b)
		for b.Loop() {
			o.LayerNormBackward(dinp, dw, db, dout, inp, w, mean, rstd, N, C)
		}
		m.report(16 * N * C)
	})
}

// BenchmarkAdamW: about the small model's parameter count; 15 nominal FLOPs
// per parameter.
func BenchmarkAdamW(b *testing.B) {
	const N = 1 << 21
	r := newRand(83)
	o := New()
	p, g := kernels.Buffer(randF32(r, N)), kernels.Buffer(randF32(r, N))
	mm, v := o.Alloc(N), o.Alloc(N)
	hp := kernels.AdamParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1}
	m := meter(b)
	for b.Loop() {
		o.AdamW(p, g, mm, v, N, hp, 1, 1)
	}
	m.report(15 * N)
}

// BenchmarkElementwise: GELU (the small model's MLP width 4C over 1024
// rows) and cross-entropy over (1024, 256) logits; nominal FLOPs.
func BenchmarkElementwise(b *testing.B) {
	const N = 1024 * 512
	r := newRand(84)
	o := New()
	x, d, out := kernels.Buffer(randF32(r, N)), kernels.Buffer(randF32(r, N)), o.Alloc(N)
	b.Run("GeluForward", func(b *testing.B) {
		m := meter(b)
		for b.Loop() {
			o.GeluForward(out, x, N)
		}
		m.report(10 * N)
	})
	b.Run("GeluBackward", func(b *testing.B) {
		m := meter(b)
		for b.Loop() {
			o.GeluBackward(out, x, d, N)
		}
		m.report(20 * N)
	})
	const BT, V = 1024, 256
	logits, targets := kernels.Buffer(randF32(r, BT*V)), kernels.Buffer(randTokens(r, BT, V))
	losses, dl := o.Alloc(BT), o.Alloc(BT*V)
	b.Run("CrossEntropy", func(b *testing.B) {
		m := meter(b)
		for b.Loop() {
			o.CrossEntropyForwardBackward(losses, dl, logits, targets, BT, V, 1.0/BT)
		}
		m.report(5 * BT * V)
	})
}
