// Benchmarks of the encoder's and attention's backward at the configuration (b): B=4, T=64, C=256, NH=4, V=256.

package cpu

import (
	"testing"

	"baton/kernels"
)

// BenchmarkEncoderBackward: the scatter of dout (B,T,C) into dwte and dwpe,
// 2 adds per element, on each instruction set.
func BenchmarkEncoderBackward(b *testing.B) {
	const B, T, C, V = 4, 64, 256, 256
	r := newRand(85)
	dout, inp := kernels.Buffer(randF32(r, B*T*C)), kernels.Buffer(randTokens(r, B*T, V))
	for _, isa := range hostISAs() {
		b.Run(isa.String(), func(b *testing.B) {
			o := newOps(1, isa)
			dwte, dwpe := o.Alloc(V*C), o.Alloc(T*C)
			m := meter(b)
			for b.Loop() {
				o.EncoderBackward(dwte, dwpe, dout, inp, B, T, C)
			}
			m.report(2 * B * T * C)
		})
	}
}

// BenchmarkAttentionBackward: one layer's attention backward at (b), on each
// instruction set and one thread; FLOPs as BenchmarkAttention counts them.
func BenchmarkAttentionBackward(b *testing.B) {
	const B, T, C, NH = 4, 64, 256, 4
	r := newRand(86)
	qkv, dout := kernels.Buffer(randF32(r, B*T*3*C)), kernels.Buffer(randF32(r, B*T*C))
	for _, isa := range hostISAs() {
		b.Run(isa.String(), func(b *testing.B) {
			o := newOps(1, isa)
			out, lse, dqkv := o.Alloc(B*T*C), o.Alloc(B*NH*T), o.Alloc(B*T*3*C)
			o.AttentionForward(out, lse, qkv, B, T, C, NH)
			m := meter(b)
			for b.Loop() {
				o.AttentionBackward(dqkv, dout, qkv, out, lse, B, T, C, NH)
			}
			m.report(10 * float64(C/NH) * float64(B*NH) * float64(T*(T+1)/2))
		})
	}
}
