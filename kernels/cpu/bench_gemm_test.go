// GEMM benchmarks: GFLOP/s per shape of the small and gpt2-124m models, on each instruction set, beside gonum.

package cpu

import (
	"fmt"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

	"baton/kernels"
	"baton/model"
)

// gemmShape is one matmul of a training step: c (M,N) = op(a) @ op(b).
type gemmShape struct {
	name           string
	transA, transB bool
	M, N, K        int
}

// modelGemms lists the distinct matmuls of one step of cfg on BT rows:
// each linear layer's forward (NN), input gradient (NT) and weight
// gradient (TN), and the tied head's three.
func modelGemms(prefix string, cfg model.Config, BT int) []gemmShape {
	C, V := cfg.C, cfg.V
	var s []gemmShape
	for _, l := range []struct {
		name  string
		C, OC int
	}{{"qkv", C, 3 * C}, {"attproj", C, C}, {"fc", C, 4 * C}, {"fcproj", 4 * C, C}} {
		s = append(s,
			gemmShape{prefix + "/" + l.name + "/NN", false, false, BT, l.OC, l.C},
			gemmShape{prefix + "/" + l.name + "/NT", false, true, BT, l.C, l.OC},
			gemmShape{prefix + "/" + l.name + "/TN", true, false, l.C, l.OC, BT})
	}
	return append(s,
		gemmShape{prefix + "/logits/NT", false, true, BT, V, C},
		gemmShape{prefix + "/dlnf/NN", false, false, BT, C, V},
		gemmShape{prefix + "/dwte/TN", true, false, V, C, BT})
}

// benchGemmShapes: 512³ in the three forms, the small model at B=8, T=128,
// its C=256 variant at B=4, T=64, and gpt2-124m at B=4, T=64 (the issue's
// configurations a, b and c).
func benchGemmShapes() []gemmShape {
	s := []gemmShape{
		{"512³/-/NN", false, false, 512, 512, 512},
		{"512³/-/NT", false, true, 512, 512, 512},
		{"512³/-/TN", true, false, 512, 512, 512},
	}
	s = append(s, modelGemms("small", model.Presets["small"], 8*128)...)
	b := model.Presets["small"] // the configuration (b): C=256, B=4, T=64
	b.C = 256
	s = append(s, modelGemms("b", b, 4*64)...)
	return append(s, modelGemms("gpt2-124m", model.Presets["gpt2-124m"], 4*64)...)
}

// BenchmarkGemm runs every shape on each instruction set of this host
// (avx512 only where the host has AVX-512F: -bench 'Gemm/avx' compares it
// with avx2) and on gonum's Sgemm called directly. Compare the GFLOP/s
// with BenchmarkFMAPeak's.
func BenchmarkGemm(b *testing.B) {
	r := newRand(80)
	for _, s := range benchGemmShapes() {
		a, bb := kernels.Buffer(randF32(r, s.M*s.K)), kernels.Buffer(randF32(r, s.K*s.N))
		c := kernels.Buffer(make(F32, s.M*s.N))
		flops := 2 * float64(s.M) * float64(s.N) * float64(s.K)
		name := fmt.Sprintf("%s/%dx%dx%d", s.name, s.M, s.N, s.K) // under the path's name: -bench Gemm/avx2/small
		for _, isa := range hostISAs() {
			o := newOps(runtime.GOMAXPROCS(0), isa)
			b.Run(isa.String()+"/"+name, func(b *testing.B) {
				m := meter(b)
				for b.Loop() {
					o.Gemm(s.transA, s.transB, s.M, s.N, s.K, 1, a, bb, 0, c)
				}
				m.report(flops)
			})
		}
		b.Run("gonum/"+name, func(b *testing.B) {
			ta, tb, lda, ldb := blas.NoTrans, blas.NoTrans, s.K, s.N
			if s.transA {
				ta, lda = blas.Trans, s.M
			}
			if s.transB {
				tb, ldb = blas.Trans, s.K
			}
			m := meter(b)
			for b.Loop() {
				gonum.Implementation{}.Sgemm(ta, tb, s.M, s.N, s.K, 1, Floats(a), lda, Floats(bb), ldb, 0, Floats(c), s.N)
			}
			m.report(flops)
		})
	}
}
