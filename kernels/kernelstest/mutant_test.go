// The suite fails broken backends: the CPU backend wrapped with one contract violation at a time.

package kernelstest

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"baton/kernels"
	"baton/kernels/cpu"
)

// recorder is a testing.TB that keeps failures instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Logf(string, ...any)       {}
func (r *recorder) Errorf(f string, a ...any) { r.errs = append(r.errs, fmt.Sprintf(f, a...)) }

// Each mutant breaks one rule of ops.go through the interface alone.
type (
	encoderOverwrites    struct{ kernels.Ops }
	lnOverwritesDinp     struct{ kernels.Ops }
	lnLosesRstd          struct{ kernels.Ops }
	gemmReadsC           struct{ kernels.Ops }
	gemmAlphaZeroReadsAB struct{ kernels.Ops }
	biasGradOverwrites   struct{ kernels.Ops }
	attnAccumulates      struct{ kernels.Ops }
	geluClobbersInput    struct{ kernels.Ops }
	residualNotAliasSafe struct{ kernels.Ops }
	fusedLNOneULP        struct{ kernels.Ops } // within every tolerance, but not the unfused bits
	ceIgnoresDscale      struct{ kernels.Ops }
	sumSquaresFloat32    struct{ kernels.Ops }
	sumSquaresOneSlot    struct{ kernels.Ops }
	adamStepOffByOne     struct{ kernels.Ops }
	roundWeightsMaster   struct{ kernels.Ops } // rounds the float32 master, not a copy
)

func (m encoderOverwrites) EncoderBackward(dwte, dwpe, dout, inp kernels.Buffer, B, T, C int) {
	m.Zero(dwte)
	m.Zero(dwpe)
	m.Ops.EncoderBackward(dwte, dwpe, dout, inp, B, T, C)
}

func (m lnOverwritesDinp) LayerNormBackward(dinp, dw, db, dout, inp, w, mean, rstd kernels.Buffer, N, C int) {
	m.Zero(dinp)
	m.Ops.LayerNormBackward(dinp, dw, db, dout, inp, w, mean, rstd, N, C)
}

func (m lnLosesRstd) LayerNormForward(out, mean, rstd, inp, w, b kernels.Buffer, N, C int) {
	m.Ops.LayerNormForward(out, mean, rstd, inp, w, b, N, C)
	m.Zero(rstd)
}

func (m gemmReadsC) Gemm(tA, tB bool, M, N, K int, alpha float32, a, b kernels.Buffer, beta float32, c kernels.Buffer) {
	if beta == 0 {
		beta = 1e-30 // 0 · c, as a kernel that always reads c computes it
	}
	m.Ops.Gemm(tA, tB, M, N, K, alpha, a, b, beta, c)
}

func (m gemmAlphaZeroReadsAB) Gemm(tA, tB bool, M, N, K int, alpha float32, a, b kernels.Buffer, beta float32, c kernels.Buffer) {
	if alpha == 0 {
		alpha = math.SmallestNonzeroFloat32 // 0 · op(a) op(b), as a kernel that always multiplies computes it
	}
	m.Ops.Gemm(tA, tB, M, N, K, alpha, a, b, beta, c)
}

func (m biasGradOverwrites) BiasBackward(dbias, dout kernels.Buffer, N, OC int) {
	m.Zero(dbias)
	m.Ops.BiasBackward(dbias, dout, N, OC)
}

func (m attnAccumulates) AttentionBackward(dqkv, dout, qkv, out, lse kernels.Buffer, B, T, C, NH int) {
	tmp := m.Alloc(dqkv.Len())
	m.Ops.AttentionBackward(tmp, dout, qkv, out, lse, B, T, C, NH)
	m.ResidualForward(dqkv, dqkv, tmp, dqkv.Len())
}

func (m geluClobbersInput) GeluBackward(dinp, inp, dout kernels.Buffer, N int) {
	m.Ops.GeluBackward(dinp, inp, dout, N)
	m.Zero(dout)
}

func (m residualNotAliasSafe) ResidualForward(out, a, b kernels.Buffer, N int) {
	m.Zero(out)
	m.Ops.ResidualForward(out, a, b, N)
}

func (m fusedLNOneULP) ResidualLayerNormForward(res, out, mean, rstd, a, b, w, bias kernels.Buffer, N, C int) {
	m.Ops.ResidualLayerNormForward(res, out, mean, rstd, a, b, w, bias, N, C)
	h := make([]float32, out.Len())
	m.Download(h, out)
	h[len(h)-1] = math.Nextafter32(h[len(h)-1], float32(math.Inf(1)))
	m.Upload(out, h)
}

func (m ceIgnoresDscale) CrossEntropyForwardBackward(losses, dlogits, logits, targets kernels.Buffer, N, V int, dscale float32) {
	m.Ops.CrossEntropyForwardBackward(losses, dlogits, logits, targets, N, V, 1)
}

func (m sumSquaresFloat32) SumSquares(sums []float64, bufs []kernels.Buffer) {
	for i, b := range bufs {
		h := make([]float32, b.Len())
		m.Download(h, b)
		var s float32
		for _, v := range h {
			s += v * v
		}
		sums[i] = float64(s)
	}
}

// SumSquares with every result read from the first buffer's slot.
func (m sumSquaresOneSlot) SumSquares(sums []float64, bufs []kernels.Buffer) {
	m.Ops.SumSquares(sums[:1], bufs[:1])
	for i := range sums {
		sums[i] = sums[0]
	}
}

func (m adamStepOffByOne) AdamW(params, grads, mm, v kernels.Buffer, N int, p kernels.AdamParams, gradScale float32, t int) {
	m.Ops.AdamW(params, grads, mm, v, N, p, gradScale, t+1)
}

func (m roundWeightsMaster) RoundWeights(params kernels.Buffer, seed uint64, t int) {
	roundOut(m, params)
}

// TestMutants: every mutant fails the cases of the op it breaks, with a
// message that names the tensor, the worst element and got vs want.
func TestMutants(t *testing.T) {
	base := cpu.New()
	for _, mt := range []struct {
		group string
		ops   kernels.Ops
		want  string // in some failure message
	}{
		{"EncoderBackward", encoderOverwrites{base}, "dwte (V="},
		{"LayerNormBackward", lnOverwritesDinp{base}, "dinp (N="},
		{"LayerNormForward", lnLosesRstd{base}, "rstd (N="},
		{"Gemm", gemmReadsC{base}, "NaN or Inf"},
		{"Gemm", gemmAlphaZeroReadsAB{base}, "c (alpha=0, beta=0)"},
		{"BiasBackward", biasGradOverwrites{base}, "accumulated onto"},
		{"AttentionBackward", attnAccumulates{base}, "dqkv[q]"},
		{"GeluBackward", geluClobbersInput{base}, "dout (7 elements) is an input but changed"},
		{"ResidualForward", residualNotAliasSafe{base}, "worst at ["},
		{"ResidualLayerNormForward", fusedLNOneULP{base}, "out: 1 of "},
		{"CrossEntropyForwardBackward", ceIgnoresDscale{base}, "dlogits (N="},
		{"SumSquares", sumSquaresFloat32{base}, "relative error"},
		{"SumSquares", sumSquaresOneSlot{base}, "the buffer alone"},
		{"AdamW", adamStepOffByOne{base}, "params after step 1"},
		{"RoundWeights", roundWeightsMaster{base}, "params (the master) after RoundWeights"},
	} {
		t.Run(mt.group, func(t *testing.T) {
			var g *group
			for _, gr := range groups(FP32) {
				if gr.name == mt.group {
					g = &gr
				}
			}
			if g == nil {
				t.Fatalf("no group %s", mt.group)
			}
			rec := &recorder{TB: t}
			failed := 0
			for _, c := range g.cases {
				before := len(rec.errs)
				res, ok := call(rec, mt.ops, c)
				if ok {
					for i := range res {
						res[i].check(rec, "float64 reference")
					}
				}
				if len(rec.errs) > before {
					failed++
					break // one failing case is the proof; the rest only cost time
				}
			}
			if failed == 0 {
				t.Fatalf("the suite passed a backend whose %s is broken", mt.group)
			}
			all := strings.Join(rec.errs, "\n")
			if !strings.Contains(all, mt.want) {
				t.Errorf("no failure message mentions %q; first:\n%s", mt.want, rec.errs[0])
			}
			t.Logf("first message:\n%s", rec.errs[0])
		})
	}
}

// TestRunAgainst runs the cross-backend path: the CPU backend with three
// workers against itself with one.
func TestRunAgainst(t *testing.T) {
	RunAgainst(t, func() kernels.Ops { return cpu.NewWorkers(3) }, func() kernels.Ops { return cpu.NewWorkers(1) }, FP32)
}

// TestCheckAgainstFailsOnAnotherBackend: the cross-backend comparison
// (which TestRunAgainst's two CPU backends, equal to the bit, never fail)
// fails a backend unlike the reference, naming the reference: the CPU
// against a mutant whose cross-entropy ignores dscale.
func TestCheckAgainstFailsOnAnotherBackend(t *testing.T) {
	base := cpu.New()
	rec := &recorder{TB: t}
	for _, g := range groups(FP32) {
		if g.name != "CrossEntropyForwardBackward" {
			continue
		}
		for _, c := range g.cases {
			if got, ok := call(rec, base, c); ok {
				checkAgainst(rec, got, ceIgnoresDscale{base}, c)
			}
		}
	}
	if all := strings.Join(rec.errs, "\n"); len(rec.errs) == 0 || !strings.Contains(all, "backend "+base.Name()) {
		t.Errorf("comparing the CPU backend with a broken one: %d failures, none naming the reference backend:\n%s", len(rec.errs), all)
	}
}
