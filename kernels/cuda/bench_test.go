//go:build cuda

// Benchmarks of every kernel on GPU time (CUDA events): GB/s for the memory-bound
// ones beside the H100's 3.35 TB/s, TFLOP/s for the GEMMs and attention beside
// cuBLAS's measured 51.7 (fp32) and 432 (tf32), at gpt2-124m's shapes.

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/cu"

	"baton/kernels"
)

// gpt2-124m at B=8, T=1024 (model/presets.go), the shapes of issue 5's throughput target.
const (
	gB, gT, gC, gNH, gV = 8, 1024, 768, 12, 50304
	gN                  = gB * gT
	gParams             = 124_475_904 // its parameter count, for AdamW and SumSquares
	hbmBytesPerSec      = 3.35e12     // H100 SXM HBM3
)

// gpuSeconds runs f twice to warm up, then b.N times between two events on o's
// stream, and returns the GPU time of one call in seconds.
func gpuSeconds(b *testing.B, o *Ops, f func()) float64 {
	b.Helper()
	testOps(b, o.prec) // a b.Run body runs on a goroutine of its own: the raw cu calls need the context current
	f()
	f()
	start, err := cu.MakeEvent(cu.DefaultEvent)
	if err != nil {
		b.Fatal(err)
	}
	defer cu.DestroyEvent(&start)
	stop, err := cu.MakeEvent(cu.DefaultEvent)
	if err != nil {
		b.Fatal(err)
	}
	defer cu.DestroyEvent(&stop)
	if err := o.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if err := start.Record(o.stream); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		f()
	}
	if err := stop.Record(o.stream); err != nil {
		b.Fatal(err)
	}
	if err := stop.Synchronize(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	ms, err := start.Elapsed(stop)
	if err != nil {
		b.Fatal(err)
	}
	return float64(ms) / 1e3 / float64(b.N)
}

// filled allocates n float32 set to v on the device (a memset: uploading
// gigabytes through the staging slots would take seconds).
func filled(b *testing.B, o *Ops, n int, v float32) Buf {
	b.Helper()
	testOps(b, o.prec) // as in gpuSeconds
	x := o.Alloc(n).(Buf)
	if err := cu.MemsetD32Async(x.Ptr, uint(math.Float32bits(v)), int64(n), o.stream); err != nil {
		b.Fatal(err)
	}
	return x
}

// reportFlops reports TFLOP/s and the share of cuBLAS's measured peak for o's precision.
func reportFlops(b *testing.B, o *Ops, flops, sec float64) {
	peak := 51.7e12
	if o.prec == kernels.TF32 {
		peak = 432e12
	}
	b.ReportMetric(flops/sec/1e12, "TFLOP/s")
	b.ReportMetric(100*flops/sec/peak, "%cuBLAS-peak")
}

// BenchmarkGemm measures 4096³ GEMMs, the size GPU.md's cuBLAS figures come from.
func BenchmarkGemm(b *testing.B) {
	const n = 4096
	for _, prec := range []kernels.Precision{kernels.FP32, kernels.TF32} {
		b.Run(fmt.Sprintf("%v/%d", prec, n), func(b *testing.B) {
			o := testOps(b, prec)
			x, y, z := filled(b, o, n*n, 0.01), filled(b, o, n*n, 0.01), o.Alloc(n*n).(Buf)
			defer tFree(o, x, y, z)
			sec := gpuSeconds(b, o, func() { o.Gemm(false, false, n, n, n, 1, x, y, 0, z) })
			reportFlops(b, o, 2*float64(n)*n*n, sec)
		})
	}
}

// BenchmarkGPT2Gemm measures the matmuls of one gpt2-124m block and its LM head,
// forward (x·W) and both backward products (dx = dy·Wᵀ, dW += xᵀ·dy), as the
// transformer calls them.
func BenchmarkGPT2Gemm(b *testing.B) {
	shapes := []struct {
		name    string
		in, out int
	}{{"qkv", gC, 3 * gC}, {"attn-proj", gC, gC}, {"fc", gC, 4 * gC}, {"mlp-proj", 4 * gC, gC}, {"lm-head", gC, gV}}
	for _, prec := range []kernels.Precision{kernels.FP32, kernels.TF32} {
		for _, sh := range shapes {
			b.Run(fmt.Sprintf("%v/%s", prec, sh.name), func(b *testing.B) {
				o := testOps(b, prec)
				x, w, y := filled(b, o, gN*sh.in, 0.01), filled(b, o, sh.in*sh.out, 0.01), filled(b, o, gN*sh.out, 0.01)
				dx, dw := o.Alloc(gN*sh.in).(Buf), o.Alloc(sh.in*sh.out).(Buf)
				defer tFree(o, x, w, y, dx, dw)
				sec := gpuSeconds(b, o, func() {
					o.Gemm(false, false, gN, sh.out, sh.in, 1, x, w, 0, y) // y (N,out) = x (N,in) · w (in,out)
					o.Gemm(false, true, gN, sh.in, sh.out, 1, y, w, 0, dx) // dx (N,in) = dy · wᵀ
					o.Gemm(true, false, sh.in, sh.out, gN, 1, x, y, 1, dw) // dw (in,out) += xᵀ · dy
				})
				reportFlops(b, o, 3*2*float64(gN)*float64(sh.in)*float64(sh.out), sec)
			})
		}
	}
}

// BenchmarkAttention measures the causal attention at gpt2-124m's shapes: the
// fused forward and the fused backward, in FP32 (3xTF32) and TF32. FLOPs
// follow FlashAttention's convention: 4·B·T²·C/2 for the causal forward (two
// products over half the scores), 2.5 times that for the backward.
func BenchmarkAttention(b *testing.B) {
	fwd := 4 * float64(gB) * gT * gT * gC / 2
	for _, prec := range []kernels.Precision{kernels.FP32, kernels.TF32} {
		o := testOps(b, prec)
		qkv, out, lse := filled(b, o, gN*3*gC, 0.01), o.Alloc(gN*gC).(Buf), o.Alloc(gB*gNH*gT).(Buf)
		dout, dqkv := filled(b, o, gN*gC, 0.01), o.Alloc(gN*3*gC).(Buf)
		b.Run(fmt.Sprintf("%v/forward", prec), func(b *testing.B) {
			sec := gpuSeconds(b, o, func() { o.AttentionForward(out, lse, qkv, gB, gT, gC, gNH) })
			reportFlops(b, o, fwd, sec)
		})
		b.Run(fmt.Sprintf("%v/backward", prec), func(b *testing.B) {
			o.AttentionForward(out, lse, qkv, gB, gT, gC, gNH)
			sec := gpuSeconds(b, o, func() { o.AttentionBackward(dqkv, dout, qkv, out, lse, gB, gT, gC, gNH) })
			reportFlops(b, o, 2.5*fwd, sec)
		})
		tFree(o, qkv, out, lse, dout, dqkv)
	}
}

// BenchmarkMemoryBound measures every memory-bound kernel at gpt2-124m's shapes
// and reports GB/s: the bytes it must read and write at least (each tensor
// once), over its GPU time, and that as a share of HBM's 3.35 TB/s.
func BenchmarkMemoryBound(b *testing.B) {
	o := testOps(b, kernels.FP32)
	const f = 4 // bytes per float32 or int32
	tokens := make([]int32, gN)
	distinct := map[int32]bool{}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range tokens {
		tokens[i] = int32(r.IntN(gV))
		distinct[tokens[i]] = true
	}
	rows := len(distinct) // wte rows the encoder's backward reads and writes
	NC, N4C, NV := gN*gC, gN*4*gC, gN*gV
	for _, k := range []struct {
		name  string
		bytes int64
		setup func(b *testing.B) (run func(), bufs []Buf)
	}{
		{"EncoderForward", f * int64(NC+rows*gC+gT*gC+gN), func(b *testing.B) (func(), []Buf) {
			out, inp, wte, wpe := o.Alloc(NC).(Buf), o.AllocInt(gN).(Buf), filled(b, o, gV*gC, 0.01), filled(b, o, gT*gC, 0.01)
			o.UploadInt(inp, tokens)
			return func() { o.EncoderForward(out, inp, wte, wpe, gB, gT, gC) }, []Buf{out, inp, wte, wpe}
		}},
		{"EncoderBackward", f * int64(NC+2*rows*gC+2*gT*gC+gN), func(b *testing.B) (func(), []Buf) {
			dwte, dwpe, dout, inp := o.Alloc(gV*gC).(Buf), o.Alloc(gT*gC).(Buf), filled(b, o, NC, 0.01), o.AllocInt(gN).(Buf)
			o.UploadInt(inp, tokens)
			return func() { o.EncoderBackward(dwte, dwpe, dout, inp, gB, gT, gC) }, []Buf{dwte, dwpe, dout, inp}
		}},
		{"LayerNormForward", f * int64(2*NC+2*gC+2*gN), func(b *testing.B) (func(), []Buf) {
			out, mean, rstd := o.Alloc(NC).(Buf), o.Alloc(gN).(Buf), o.Alloc(gN).(Buf)
			inp, w, bias := filled(b, o, NC, 0.01), filled(b, o, gC, 1), o.Alloc(gC).(Buf)
			return func() { o.LayerNormForward(out, mean, rstd, inp, w, bias, gN, gC) }, []Buf{out, mean, rstd, inp, w, bias}
		}},
		{"LayerNormBackward", f * int64(4*NC+5*gC+2*gN), func(b *testing.B) (func(), []Buf) {
			dinp, dw, db := o.Alloc(NC).(Buf), o.Alloc(gC).(Buf), o.Alloc(gC).(Buf)
			dout, inp, w := filled(b, o, NC, 0.01), filled(b, o, NC, 0.02), filled(b, o, gC, 1)
			mean, rstd := o.Alloc(gN).(Buf), filled(b, o, gN, 1)
			return func() { o.LayerNormBackward(dinp, dw, db, dout, inp, w, mean, rstd, gN, gC) }, []Buf{dinp, dw, db, dout, inp, w, mean, rstd}
		}},
		{"BiasForward-qkv", f * int64(2*3*NC+3*gC), func(b *testing.B) (func(), []Buf) {
			out, bias := o.Alloc(3*NC).(Buf), filled(b, o, 3*gC, 0.01)
			return func() { o.BiasForward(out, bias, gN, 3*gC) }, []Buf{out, bias}
		}},
		{"BiasBackward-qkv", f * int64(3*NC+2*3*gC), func(b *testing.B) (func(), []Buf) {
			dbias, dout := o.Alloc(3*gC).(Buf), filled(b, o, 3*NC, 0.01)
			return func() { o.BiasBackward(dbias, dout, gN, 3*gC) }, []Buf{dbias, dout}
		}},
		{"GeluForward", f * int64(2*N4C), func(b *testing.B) (func(), []Buf) {
			out, inp := o.Alloc(N4C).(Buf), filled(b, o, N4C, 0.5)
			return func() { o.GeluForward(out, inp, N4C) }, []Buf{out, inp}
		}},
		{"GeluBackward", f * int64(3*N4C), func(b *testing.B) (func(), []Buf) {
			dinp, inp, dout := o.Alloc(N4C).(Buf), filled(b, o, N4C, 0.5), filled(b, o, N4C, 0.01)
			return func() { o.GeluBackward(dinp, inp, dout, N4C) }, []Buf{dinp, inp, dout}
		}},
		{"ResidualForward", f * int64(3*NC), func(b *testing.B) (func(), []Buf) {
			out, x, y := o.Alloc(NC).(Buf), filled(b, o, NC, 0.01), filled(b, o, NC, 0.02)
			return func() { o.ResidualForward(out, x, y, NC) }, []Buf{out, x, y}
		}},
		{"CrossEntropy", f * int64(2*NV+2*gN), func(b *testing.B) (func(), []Buf) {
			losses, logits, targets := o.Alloc(gN).(Buf), filled(b, o, NV, 0.01), o.AllocInt(gN).(Buf)
			o.UploadInt(targets, tokens)
			return func() { o.CrossEntropyForwardBackward(losses, logits, logits, targets, gN, gV, 1.0/gN) }, []Buf{losses, logits, targets}
		}},
		{"AdamW", f * int64(7*gParams), func(b *testing.B) (func(), []Buf) {
			p, g, m, v := filled(b, o, gParams, 0.01), filled(b, o, gParams, 0.001), o.Alloc(gParams).(Buf), o.Alloc(gParams).(Buf)
			hp := kernels.AdamParams{LR: 1e-4, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}
			return func() { o.AdamW(p, g, m, v, gParams, hp, 1, 1) }, []Buf{p, g, m, v}
		}},
		// Its time includes the copy of the result to the host, which it waits for.
		{"SumSquares", f * int64(gParams), func(b *testing.B) (func(), []Buf) {
			g := filled(b, o, gParams, 0.001)
			sums := make([]float64, 1)
			return func() { o.SumSquares(sums, []kernels.Buffer{g}) }, []Buf{g}
		}},
	} {
		b.Run(k.name, func(b *testing.B) {
			run, bufs := k.setup(b)
			defer tFree(o, bufs...)
			sec := gpuSeconds(b, o, run)
			b.ReportMetric(float64(k.bytes)/sec/1e9, "GB/s")
			b.ReportMetric(100*float64(k.bytes)/sec/hbmBytesPerSec, "%HBM")
		})
	}
}
