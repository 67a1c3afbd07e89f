//go:build cuda

// The bf16 launchers refuse operands of the wrong storage: a mix of float32 and bf16
// among an op's activations, a bf16 statistic or moment (kernels.Exact), a bf16
// parameter without its master.

package cuda

import (
	"strings"
	"testing"

	"baton/kernels"
)

func TestBF16OpsRefuseWrongStorage(t *testing.T) {
	o := testOps(t, kernels.BF16)
	const N, C = 3, 8
	work := func(n int) kernels.Buffer { return o.AllocAs(n, kernels.Working) }
	exact := func(n int) kernels.Buffer { return o.AllocAs(n, kernels.Exact) }
	weights := func(n int) kernels.Buffer { return o.AllocAs(n, kernels.Weights) }
	hp := kernels.AdamParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8}
	for _, c := range []struct {
		name, want string
		call       func()
	}{
		{"GeluForward float32 inp", "inp is float32, unlike out", func() { o.GeluForward(work(N), exact(N), N) }},
		{"ResidualForward mixed", "b is float32, unlike out", func() { o.ResidualForward(work(N), work(N), exact(N), N) }},
		{"BiasForward float32 bias", "bias is float32", func() { o.BiasForward(work(N*C), exact(C), N, C) }},
		{"LayerNormForward bf16 rstd", "rstd is bf16; it must be float32", func() {
			o.LayerNormForward(work(N*C), exact(N), work(N), work(N*C), weights(C), weights(C), N, C)
		}},
		{"ResidualLayerNormForward bf16 mean", "mean is bf16; it must be float32", func() {
			o.ResidualLayerNormForward(work(N*C), work(N*C), work(N), exact(N), work(N*C), work(N*C), weights(C), weights(C), N, C)
		}},
		{"ResidualLayerNormForward float32 b", "b is float32, unlike res", func() {
			o.ResidualLayerNormForward(work(N*C), work(N*C), exact(N), exact(N), work(N*C), exact(N*C), weights(C), weights(C), N, C)
		}},
		{"LayerNormBackward bf16 mean", "mean is bf16; it must be float32", func() {
			o.LayerNormBackward(work(N*C), work(C), work(C), work(N*C), work(N*C), weights(C), work(N), exact(N), N, C)
		}},
		{"CrossEntropy bf16 losses", "losses is bf16", func() {
			o.CrossEntropyForwardBackward(work(N), work(N*C), work(N*C), o.AllocInt(N), N, C, 1)
		}},
		{"AdamW bf16 m", "m is bf16", func() { o.AdamW(weights(N), work(N), work(N), exact(N), N, hp, 1, 1) }},
		{"AdamW no master", "without a float32 master", func() { o.AdamW(work(N), work(N), exact(N), exact(N), N, hp, 1, 1) }},
		{"AdamW float32 grads", "grads is float32", func() { o.AdamW(weights(N), exact(N), exact(N), exact(N), N, hp, 1, 1) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			if msg := mustPanic(t, c.call); !strings.Contains(msg, c.want) {
				t.Errorf("panic %q does not say %q", msg, c.want)
			}
		})
	}
}
