//go:build cuda

// Benchmarks of every kernel on GPU time (CUDA events): GB/s for the memory-bound
// ones beside the device's peak DRAM bandwidth (3.35 TB/s on an H100), TFLOP/s for
// the GEMMs and attention beside cuBLAS's measured 51.7 (fp32), 432 (tf32) and 876
// (bf16 GemmEx), at gpt2-124m's shapes. The bf16 rows run the BF16 precision's
// operands: bf16 activations and parameters (kernels.Working, kernels.Weights),
// fp32 lse, statistics, masters and moments.

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/cu"

	"baton/kernels"
	"baton/kernels/kernelstest"
)

// gpt2-124m at B=8, T=1024 (model/presets.go), the shapes of issue 5's throughput target.
const (
	gB, gT, gC, gNH, gV = 8, 1024, 768, 12, 50304
	gN                  = gB * gT
	gParams             = 124_475_904 // its parameter count, for AdamW and SumSquares
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

// filledAs is filled for a buffer of storage s: under BF16 a bf16 one (for Weights,
// its bf16 copy only), every element v rounded to bf16; n must be even (the memset
// writes two bf16 at a time).
func filledAs(b *testing.B, o *Ops, n int, v float32, s kernels.Storage) Buf {
	b.Helper()
	testOps(b, o.prec) // as in gpuSeconds
	x := o.AllocAs(n, s).(Buf)
	word, words := uint(math.Float32bits(v)), int64(n)
	if x.BF16 {
		if n%2 != 0 {
			b.Fatalf("filledAs: odd n = %d", n)
		}
		h := uint(math.Float32bits(kernelstest.RoundBF16(v)) >> 16)
		word, words = h<<16|h, int64(n/2)
	}
	if err := cu.MemsetD32Async(x.Ptr, word, words, o.stream); err != nil {
		b.Fatal(err)
	}
	return x
}

// benchPrecisions are the precisions of the GEMM and attention benchmarks.
var benchPrecisions = []kernels.Precision{kernels.FP32, kernels.TF32, kernels.BF16}

// reportFlops reports TFLOP/s and the share of cuBLAS's measured peak for o's precision.
func reportFlops(b *testing.B, o *Ops, flops, sec float64) {
	peak := 51.7e12
	switch o.prec {
	case kernels.TF32:
		peak = 432e12
	case kernels.BF16:
		peak = 876e12
	}
	b.ReportMetric(flops/sec/1e12, "TFLOP/s")
	b.ReportMetric(100*flops/sec/peak, "%cuBLAS-peak")
}

// BenchmarkGemm measures 4096³ GEMMs, the size GPU.md's cuBLAS figures come from.
func BenchmarkGemm(b *testing.B) {
	const n = 4096
	for _, prec := range benchPrecisions {
		b.Run(fmt.Sprintf("%v/%d", prec, n), func(b *testing.B) {
			o := testOps(b, prec)
			x, y := filledAs(b, o, n*n, 0.01, kernels.Working), filledAs(b, o, n*n, 0.01, kernels.Working)
			z := o.AllocAs(n*n, kernels.Working).(Buf)
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
	for _, prec := range benchPrecisions {
		for _, sh := range shapes {
			b.Run(fmt.Sprintf("%v/%s", prec, sh.name), func(b *testing.B) {
				o := testOps(b, prec)
				x, w := filledAs(b, o, gN*sh.in, 0.01, kernels.Working), filledAs(b, o, sh.in*sh.out, 0.01, kernels.Weights)
				y := filledAs(b, o, gN*sh.out, 0.01, kernels.Working)
				dx, dw := o.AllocAs(gN*sh.in, kernels.Working).(Buf), o.AllocAs(sh.in*sh.out, kernels.Working).(Buf)
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

// BenchmarkGPT2Epilogue measures the forward matmuls that carry a bias (and GELU)
// at gpt2-124m's shapes fused in one cuBLASLt call (GemmBias, GemmBiasGELU), and the
// backward product through the GELU (GemmDGELU), against their unfused form (Gemm,
// BiasForward, GeluForward, GeluBackward): the benchmark that decides whether the
// transformer fuses them (issue 16). TF32 always runs unfused.
func BenchmarkGPT2Epilogue(b *testing.B) {
	shapes := []struct {
		name    string
		in, out int
		gelu    bool
	}{{"qkv", gC, 3 * gC, false}, {"attn-proj", gC, gC, false}, {"fc-gelu", gC, 4 * gC, true}, {"mlp-proj", 4 * gC, gC, false}}
	for _, prec := range []kernels.Precision{kernels.FP32, kernels.BF16} {
		for _, sh := range shapes {
			for _, fused := range []bool{true, false} {
				mode := "unfused"
				if fused {
					mode = "fused"
				}
				b.Run(fmt.Sprintf("%v/%s/%s", prec, sh.name, mode), func(b *testing.B) {
					o := testOps(b, prec)
					x, w := filledAs(b, o, gN*sh.in, 0.01, kernels.Working), filledAs(b, o, sh.in*sh.out, 0.01, kernels.Weights)
					bias := filledAs(b, o, sh.out, 0.01, kernels.Weights)
					pre, y := o.AllocAs(gN*sh.out, kernels.Working).(Buf), o.AllocAs(gN*sh.out, kernels.Working).(Buf)
					defer tFree(o, x, w, bias, pre, y)
					sec := gpuSeconds(b, o, func() {
						switch {
						case fused && sh.gelu:
							o.GemmBiasGELU(false, false, gN, sh.out, sh.in, x, w, bias, pre, y)
						case fused:
							o.GemmBias(false, false, gN, sh.out, sh.in, x, w, bias, y)
						case sh.gelu:
							o.Gemm(false, false, gN, sh.out, sh.in, 1, x, w, 0, pre)
							o.BiasForward(pre, bias, gN, sh.out)
							o.GeluForward(y, pre, gN*sh.out)
						default:
							o.Gemm(false, false, gN, sh.out, sh.in, 1, x, w, 0, y)
							o.BiasForward(y, bias, gN, sh.out)
						}
					})
					reportFlops(b, o, 2*float64(gN)*float64(sh.in)*float64(sh.out), sec)
				})
			}
		}
		// The backward through fc's GELU: dpre (N,4C) = (dy (N,C) · w_projᵀ) * GELU'(pre).
		for _, fused := range []bool{true, false} {
			mode := "unfused"
			if fused {
				mode = "fused"
			}
			b.Run(fmt.Sprintf("%v/mlp-proj-dgelu/%s", prec, mode), func(b *testing.B) {
				o := testOps(b, prec)
				dy, w := filledAs(b, o, gN*gC, 0.01, kernels.Working), filledAs(b, o, 4*gC*gC, 0.01, kernels.Weights)
				pre, dpre := filledAs(b, o, gN*4*gC, 0.5, kernels.Working), o.AllocAs(gN*4*gC, kernels.Working).(Buf)
				defer tFree(o, dy, w, pre, dpre)
				sec := gpuSeconds(b, o, func() {
					if fused {
						o.GemmDGELU(false, true, gN, 4*gC, gC, dy, w, pre, dpre)
						return
					}
					o.Gemm(false, true, gN, 4*gC, gC, 1, dy, w, 0, dpre)
					o.GeluBackward(dpre, pre, dpre, gN*4*gC)
				})
				reportFlops(b, o, 2*float64(gN)*float64(gC)*float64(4*gC), sec)
			})
		}
	}
}

// BenchmarkAttention measures the causal attention at gpt2-124m's shapes: the
// fused forward and the fused backward, in FP32 (3xTF32), TF32 and BF16 (bf16
// operands on mma.m16n8k16, fp32 lse). FLOPs
// follow FlashAttention's convention: 4·B·T²·C/2 for the causal forward (two
// products over half the scores), 2.5 times that for the backward.
func BenchmarkAttention(b *testing.B) {
	fwd := 4 * float64(gB) * gT * gT * gC / 2
	for _, prec := range benchPrecisions {
		o := testOps(b, prec)
		qkv, out := filledAs(b, o, gN*3*gC, 0.01, kernels.Working), o.AllocAs(gN*gC, kernels.Working).(Buf)
		lse := o.AllocAs(gB*gNH*gT, kernels.Exact).(Buf)
		dout, dqkv := filledAs(b, o, gN*gC, 0.01, kernels.Working), o.AllocAs(gN*3*gC, kernels.Working).(Buf)
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

// peakBytesPerSec is the device's peak DRAM bandwidth as CUDA's samples derive it:
// 2 (double data rate) × the memory clock × the bus width. An H100 SXM says 3.35 TB/s.
func peakBytesPerSec(b *testing.B) float64 {
	b.Helper()
	clock, err := gpu.dev.Attribute(cu.MemoryClockRate) // kHz
	if err != nil {
		b.Fatal(err)
	}
	width, err := gpu.dev.Attribute(cu.GlobalMemoryBusWidth) // bits
	if err != nil {
		b.Fatal(err)
	}
	return 2 * float64(clock) * 1e3 * float64(width) / 8
}

// BenchmarkMemoryBound measures every memory-bound kernel at gpt2-124m's shapes,
// in fp32 and in bf16 (the BF16 precision's operands: bf16 activations, gradients
// and parameters' copies, float32 statistics, losses, masters and moments), and
// reports GB/s: the bytes it must read and write at least (each tensor once, at its
// element size), over its GPU time, and that as a share of the device's peak DRAM
// bandwidth (peakBytesPerSec).
func BenchmarkMemoryBound(b *testing.B) {
	peak := peakBytesPerSec(b)
	b.Logf("peak DRAM bandwidth %.3g TB/s", peak/1e12)
	tokens := make([]int32, gN)
	distinct := map[int32]bool{}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range tokens {
		tokens[i] = int32(r.IntN(gV))
		distinct[tokens[i]] = true
	}
	rows := int64(len(distinct)) // wte rows the encoder's backward reads and writes
	NC, N4C, NV := int64(gN*gC), int64(gN*4*gC), int64(gN*gV)
	C, N, T, P := int64(gC), int64(gN), int64(gT), int64(gParams)
	for _, prec := range []kernels.Precision{kernels.FP32, kernels.BF16} {
		o := testOps(b, prec)
		// Bytes per element: a of an activation or gradient (Working), w of a
		// parameter as the kernels read it (Weights: its bf16 copy under BF16), 4 of
		// float32 (Exact: statistics, losses, moments, masters) and int32 tokens.
		a, w := int64(4), int64(4)
		if prec == kernels.BF16 {
			a, w = 2, 2
		}
		work := func(n int) Buf { return o.AllocAs(n, kernels.Working).(Buf) }
		exact := func(n int) Buf { return o.AllocAs(n, kernels.Exact).(Buf) }
		for _, k := range []struct {
			name  string
			bytes int64
			setup func(b *testing.B) (run func(), bufs []Buf)
		}{
			{"EncoderForward", a*NC + w*(rows*C+T*C) + 4*N, func(b *testing.B) (func(), []Buf) {
				out, inp := work(gN*gC), o.AllocInt(gN).(Buf)
				wte, wpe := filledAs(b, o, gV*gC, 0.01, kernels.Weights), filledAs(b, o, gT*gC, 0.01, kernels.Weights)
				o.UploadInt(inp, tokens)
				return func() { o.EncoderForward(out, inp, wte, wpe, gB, gT, gC) }, []Buf{out, inp, wte, wpe}
			}},
			{"EncoderBackward", a*(NC+2*rows*C+2*T*C) + 4*N, func(b *testing.B) (func(), []Buf) {
				dwte, dwpe, dout, inp := work(gV*gC), work(gT*gC), filledAs(b, o, gN*gC, 0.01, kernels.Working), o.AllocInt(gN).(Buf)
				o.UploadInt(inp, tokens)
				return func() { o.EncoderBackward(dwte, dwpe, dout, inp, gB, gT, gC) }, []Buf{dwte, dwpe, dout, inp}
			}},
			{"LayerNormForward", 2*a*NC + 2*w*C + 4*2*N, func(b *testing.B) (func(), []Buf) {
				out, mean, rstd := work(gN*gC), exact(gN), exact(gN)
				inp, wt, bias := filledAs(b, o, gN*gC, 0.01, kernels.Working), filledAs(b, o, gC, 1, kernels.Weights), o.AllocAs(gC, kernels.Weights).(Buf)
				return func() { o.LayerNormForward(out, mean, rstd, inp, wt, bias, gN, gC) }, []Buf{out, mean, rstd, inp, wt, bias}
			}},
			{"ResidualLayerNormForward", 4*a*NC + 2*w*C + 4*2*N, func(b *testing.B) (func(), []Buf) {
				res, out, mean, rstd := work(gN*gC), work(gN*gC), exact(gN), exact(gN)
				x, y := filledAs(b, o, gN*gC, 0.01, kernels.Working), filledAs(b, o, gN*gC, 0.02, kernels.Working)
				wt, bias := filledAs(b, o, gC, 1, kernels.Weights), o.AllocAs(gC, kernels.Weights).(Buf)
				return func() { o.ResidualLayerNormForward(res, out, mean, rstd, x, y, wt, bias, gN, gC) }, []Buf{res, out, mean, rstd, x, y, wt, bias}
			}},
			// dinp read and written, dout, inp; w read, dw and db read and written.
			{"LayerNormBackward", 4*a*NC + w*C + 4*a*C + 4*2*N, func(b *testing.B) (func(), []Buf) {
				dinp, dw, db := work(gN*gC), work(gC), work(gC)
				dout, inp, wt := filledAs(b, o, gN*gC, 0.01, kernels.Working), filledAs(b, o, gN*gC, 0.02, kernels.Working), filledAs(b, o, gC, 1, kernels.Weights)
				mean, rstd := exact(gN), filled(b, o, gN, 1)
				return func() { o.LayerNormBackward(dinp, dw, db, dout, inp, wt, mean, rstd, gN, gC) }, []Buf{dinp, dw, db, dout, inp, wt, mean, rstd}
			}},
			{"BiasForward-qkv", 2*a*3*NC + w*3*C, func(b *testing.B) (func(), []Buf) {
				out, bias := work(3*gN*gC), filledAs(b, o, 3*gC, 0.01, kernels.Weights)
				return func() { o.BiasForward(out, bias, gN, 3*gC) }, []Buf{out, bias}
			}},
			{"BiasBackward-qkv", a * (3*NC + 2*3*C), func(b *testing.B) (func(), []Buf) {
				dbias, dout := work(3*gC), filledAs(b, o, 3*gN*gC, 0.01, kernels.Working)
				return func() { o.BiasBackward(dbias, dout, gN, 3*gC) }, []Buf{dbias, dout}
			}},
			{"GeluForward", 2 * a * N4C, func(b *testing.B) (func(), []Buf) {
				out, inp := work(gN*4*gC), filledAs(b, o, gN*4*gC, 0.5, kernels.Working)
				return func() { o.GeluForward(out, inp, gN*4*gC) }, []Buf{out, inp}
			}},
			{"GeluBackward", 3 * a * N4C, func(b *testing.B) (func(), []Buf) {
				dinp, inp, dout := work(gN*4*gC), filledAs(b, o, gN*4*gC, 0.5, kernels.Working), filledAs(b, o, gN*4*gC, 0.01, kernels.Working)
				return func() { o.GeluBackward(dinp, inp, dout, gN*4*gC) }, []Buf{dinp, inp, dout}
			}},
			{"ResidualForward", 3 * a * NC, func(b *testing.B) (func(), []Buf) {
				out, x, y := work(gN*gC), filledAs(b, o, gN*gC, 0.01, kernels.Working), filledAs(b, o, gN*gC, 0.02, kernels.Working)
				return func() { o.ResidualForward(out, x, y, gN*gC) }, []Buf{out, x, y}
			}},
			// logits read, dlogits (the same buffer) written; losses, targets.
			{"CrossEntropy", 2*a*NV + 4*2*N, func(b *testing.B) (func(), []Buf) {
				losses, logits, targets := exact(gN), filledAs(b, o, gN*gV, 0.01, kernels.Working), o.AllocInt(gN).(Buf)
				o.UploadInt(targets, tokens)
				return func() { o.CrossEntropyForwardBackward(losses, logits, logits, targets, gN, gV, 1.0/gN) }, []Buf{losses, logits, targets}
			}},
			// params, m, v read and written, grads read; under BF16 the master is
			// the float32 parameter read and written, and the bf16 copy is written.
			{"AdamW", adamBytes(prec), func(b *testing.B) (func(), []Buf) {
				p, g := filledAs(b, o, gParams, 0.01, kernels.Weights), filledAs(b, o, gParams, 0.001, kernels.Working)
				m, v := exact(gParams), exact(gParams)
				hp := kernels.AdamParams{LR: 1e-4, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}
				return func() { o.AdamW(p, g, m, v, gParams, hp, 1, 1) }, []Buf{p, g, m, v}
			}},
			// Its time includes the copy of the result to the host, which it waits for.
			{"SumSquares", a * P, func(b *testing.B) (func(), []Buf) {
				g := filledAs(b, o, gParams, 0.001, kernels.Working)
				sums := make([]float64, 1)
				return func() { o.SumSquares(sums, []kernels.Buffer{g}) }, []Buf{g}
			}},
		} {
			b.Run(fmt.Sprintf("%v/%s", prec, k.name), func(b *testing.B) {
				run, bufs := k.setup(b)
				defer tFree(o, bufs...)
				sec := gpuSeconds(b, o, run)
				b.ReportMetric(float64(k.bytes)/sec/1e9, "GB/s")
				b.ReportMetric(100*float64(k.bytes)/sec/peak, "%HBM")
			})
		}
	}
}

// adamBytes is what AdamW of gpt2-124m's parameters reads and writes: in fp32 params,
// m, v read and written and grads read (7 × 4 bytes an element); in bf16 the float32
// master, m and v read and written, the bf16 grads read and the bf16 copy written.
func adamBytes(prec kernels.Precision) int64 {
	if prec == kernels.BF16 {
		return int64(gParams) * (3*2*4 + 2 + 2)
	}
	return int64(gParams) * 7 * 4
}
