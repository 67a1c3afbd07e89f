// The suite's entry points: Tolerances with the FP32 and TF32 presets, Run and RunAgainst.

// Package kernelstest is the conformance suite every kernels.Ops backend
// must pass, in the manner of gonum's testblas: one set of tests, written
// only against the kernels.Ops interface, run by each backend's own tests.
//
//	func TestConformance(t *testing.T) {
//		kernelstest.Run(t, func() kernels.Ops { return cpu.New() }, kernelstest.FP32)
//	}
//
// Run checks every op of kernels.Ops, forward and backward, on random inputs
// of several shapes (odd sizes included, that are multiples of no block
// size) against float64 references, and the contract details of ops.go:
// activations and activation gradients are overwritten (outputs are
// prefilled with NaN), parameter gradients and LayerNormBackward's dinp
// accumulate (prefilled with known values), inputs are left unchanged,
// nothing is written outside a buffer (and what is read outside one is NaN,
// which shows in the outputs), aliasing that the contract allows works,
// Slice views share memory at any offset, and a fused op gives the bits of
// its unfused ops on the same backend. RunAgainst also compares each
// op's outputs with a second backend's on the same inputs.
//
// The float64 references (EncoderForward, LayerNormBackward, Gemm,
// AttentionForward, ...) are exported for backends' own tests.
//
// Under the BF16 preset the suite runs the ops on bf16 storage: every buffer
// is allocated with AllocAs by its role (roleOf), and every float input and
// prefill is rounded to bf16 (RoundBF16) in place before it is uploaded, so
// that the float64 references and, in RunAgainst, the other backend see the
// very values the bf16 backend stores.
//
// Main types: Tolerances (presets FP32, TF32 and BF16).
package kernelstest

import (
	"fmt"
	"io"
	"runtime/debug"
	"testing"

	"baton/kernels"
)

// Tolerances bound the normalised error of each op family's outputs:
// max|got-want| / max(|want|, floor), the maximum over the tensor (over a
// row where said) of the error relative to the tensor's (row's) largest
// element; for an output that accumulates, relative to the largest value
// the op added. A real bug (a missing term, a wrong scale, index or mask)
// gives errors of order 1e-3 to 1; rounding gives far less.
type Tolerances struct {
	// Elementwise: EncoderForward, BiasForward, ResidualForward,
	// GeluForward, GeluBackward, AdamW (params, m, v after each step).
	Elementwise float64
	// Sum: EncoderBackward and BiasBackward, sums of up to 1031 rows (on a
	// GPU in any order: atomics, tree reductions).
	Sum float64
	// LayerNorm: forward out (per row), mean, rstd (per element), alone or
	// fused after the residual add; backward dinp (per row), dw, db.
	LayerNorm float64
	// Gemm: every transpose, alpha and beta; K up to 1031.
	Gemm float64
	// Attention: forward out and lse, backward dq, dk, dv.
	Attention float64
	// CrossEntropy: losses and dlogits, V up to 1031.
	CrossEntropy float64
	// SumSquares: |got-want|/want of the float64 sum.
	SumSquares float64
	// BF16: the backend stores activations, gradients and parameters in
	// bfloat16 (kernels.BF16). The suite then allocates each buffer by its
	// role (AllocAs), rounds every float input and prefill to bf16 before
	// uploading it (the references see the rounded values), and lets each
	// element of an output stored in bf16 differ from its reference by one
	// rounding, BF16Unit of its own magnitude, beyond the bound of its family.
	BF16 bool
}

// FP32 is what a backend computing in float32 throughout must meet. Each
// bound is about ten times the error of float32 arithmetic in any summation
// order on the suite's shapes (the CPU backend, which sums some reductions
// in float64, shows 1e-8 to 1e-6; go test -v logs every error).
var FP32 = Tolerances{
	// A few roundings per element (2^-24 each), expf's ulp in GELU,
	// sqrt and a division per AdamW step, over three steps: ~1e-6.
	Elementwise: 1e-5,
	// float32 sums of n terms: the error is ~sqrt(n)·2^-24 relative to the
	// terms; against a column sum of typical size sqrt(n) that is ~1e-6
	// for n = 1031, whatever the order.
	Sum: 1e-5,
	// C-term row sums for mean, variance and the two backward means (C up
	// to 1031), and N-term sums for dw, db; rows include an offset mean
	// (10 ± 3), where a one-pass float32 variance cancels.
	LayerNorm: 1e-5,
	// K-term dot products (K up to 1031) in whatever order the GEMM
	// blocks them (split-K included): a few 1e-6; 1e-4 leaves a margin
	// for any fp32 algorithm and still sees any wrong term.
	Gemm: 1e-4,
	// hs-term dot products, an online softmax over up to 259 keys whose
	// running max rescales the accumulator, expf (fast-math __expf is
	// ~2 ulp + 1.2|x| ulp): ~1e-6 to 1e-5.
	Attention: 1e-4,
	// A V-term sum of exps and its log; the losses' scale is set by a
	// logit of 80 in the first row (an overflow test), so errors of the
	// others are divided by ~20: ~1e-7.
	CrossEntropy: 1e-5,
	// The contract accumulates in float64: the only error is squaring in
	// float32 (at most 2^-24 ≈ 6e-8 relative, all terms positive). A
	// float32 accumulator over the 2^18-element case errs by 1e-6 to 1e-3
	// and fails.
	SumSquares: 1e-7,
}

// TF32 is FP32 for a backend whose GEMMs and attention products run on
// tensor cores in TF32: inputs rounded to 10 mantissa bits
// (2^-11 ≈ 4.9e-4 relative each), products accumulated in float32. A K-term
// dot product then errs by ~1e-3 of its terms' scale, ~3e-4 to 1e-3 of the
// tensor's; 1e-2 is ten times that. Element-wise ops, LayerNorm, sums,
// cross-entropy and SumSquares are float32 kernels of their own and keep the
// FP32 bounds (a backend that computes BiasBackward as a GEMM with a ones
// vector must loosen Sum too).
var TF32 = Tolerances{
	Elementwise:  FP32.Elementwise,
	Sum:          FP32.Sum,
	LayerNorm:    FP32.LayerNorm,
	Gemm:         1e-2,
	Attention:    1e-2,
	CrossEntropy: FP32.CrossEntropy,
	SumSquares:   FP32.SumSquares,
}

// BF16Eps is bfloat16's machine epsilon, 2^-7 ≈ 7.8e-3: the spacing of bf16
// values between 1 and 2 (7 stored mantissa bits). BF16Unit, 2^-8 ≈ 3.9e-3, is
// half of it: the largest relative error of one rounding to nearest.
const (
	BF16Eps  = 0x1p-7
	BF16Unit = BF16Eps / 2
)

// BF16 is what a backend storing in bfloat16 and computing in float32 must
// meet (kernels.BF16: activations, gradients and parameters in bf16; LayerNorm
// statistics, the log-sum-exp, losses, the masters and AdamW moments in
// float32; every product and reduction accumulated in float32 or wider).
//
// The inputs are rounded to bf16 before the references see them, so input
// rounding is no error here; what remains is the rounding of each stored
// output (allowed element by element: BF16Unit = eps/2 of its own magnitude,
// see Tolerances.BF16) and the arithmetic. The element-wise ops, LayerNorm,
// the sums, cross-entropy, SumSquares and AdamW compute in float32 (their
// sums float64) on the widened inputs, as the float32 kernels do, so they
// keep about FP32's bounds, stated here in units of eps: eps/2^9 ≈ 1.5e-5
// (FP32 has 1e-5), eps/2^16 ≈ 1.2e-7 for SumSquares (FP32's 1e-7). A real
// bug that hides below these must change every output by less than half a
// bf16 rounding. AdamW's params are compared through their float32 masters.
//
// The products round more than their output: GEMMs multiply bf16 operands
// and accumulate in float32 (split-K partials or a bf16 epilogue may round
// once more): eps/8 ≈ 9.8e-4. Attention rounds its probabilities P (and in the
// backward dS) to bf16 for the tensor-core products: each term of a row's
// sum errs by up to eps/2 of itself, a few eps/2 of the row's scale after the
// backward's chained products: 4 eps ≈ 3.1e-2 (TF32's 1e-2 is for operands
// rounded at 2^-11).
var BF16 = Tolerances{
	Elementwise:  BF16Eps / (1 << 9),
	Sum:          BF16Eps / (1 << 9),
	LayerNorm:    BF16Eps / (1 << 9),
	Gemm:         BF16Eps / 8,
	Attention:    4 * BF16Eps,
	CrossEntropy: BF16Eps / (1 << 9),
	SumSquares:   BF16Eps / (1 << 16),
	BF16:         true,
}

// Run runs the conformance suite on the backend newOps makes: a subtest per
// op of kernels.Ops (Memory, EncoderForward, ..., AdamW, RoundWeights), and
// under each a subtest per shape and variant. newOps is called once per op;
// when the op's subtests end, the backend's Close method is called if it
// has one (Close() or Close() error). A backend is used from one goroutine
// only.
func Run(t *testing.T, newOps func() kernels.Ops, tol Tolerances) {
	run(t, newOps, nil, tol)
}

// RunAgainst is Run that also compares every output of newOps' backend with
// reference's (the CUDA backend with the CPU one) on the same inputs, with
// the same tolerances, the other backend's output taking the place of the
// float64 reference.
func RunAgainst(t *testing.T, newOps, reference func() kernels.Ops, tol Tolerances) {
	run(t, newOps, reference, tol)
}

func run(t *testing.T, newOps, reference func() kernels.Ops, tol Tolerances) {
	t.Run("Memory", func(t *testing.T) { testMemory(t, open(t, newOps), tol.BF16) })
	for _, g := range groups(tol) {
		t.Run(g.name, func(t *testing.T) {
			o := open(t, newOps)
			var ref kernels.Ops
			if reference != nil {
				ref = open(t, reference)
			}
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					got, ok := call(t, o, c)
					if !ok {
						return
					}
					for i := range got {
						got[i].check(t, "float64 reference")
					}
					if ref != nil {
						checkAgainst(t, got, ref, c)
					}
				})
			}
		})
	}
}

// checkAgainst checks a case's results, got, against those of backend
// ref on the same inputs, as they were checked against float64's.
func checkAgainst(t tb, got []result, ref kernels.Ops, c opCase) {
	other, ok := call(t, ref, c)
	if !ok || len(other) != len(got) {
		return
	}
	for i := range got {
		r := got[i]
		if r.own {
			continue
		}
		r.want = F64(other[i].got)
		r.check(t, "backend "+ref.Name())
	}
}

// open makes a backend for one subtest and closes it afterwards if it can.
func open(t *testing.T, newOps func() kernels.Ops) kernels.Ops {
	o := newOps()
	switch c := o.(type) {
	case io.Closer:
		t.Cleanup(func() {
			if err := c.Close(); err != nil {
				t.Errorf("%s: Close: %v", o.Name(), err)
			}
		})
	case interface{ Close() }:
		t.Cleanup(c.Close)
	}
	return o
}

// call runs one case on o, turning a panic into a failure that names it.
func call(t tb, o kernels.Ops, c opCase) (res []result, ok bool) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("%s panicked: %v\n%s", o.Name(), p, debug.Stack())
			res, ok = nil, false
		}
	}()
	e := newEnv(t, o, c.off, c.bf16)
	res = c.run(e)
	for i := range res {
		if e.storedBF16(res[i].got) {
			res[i].stored = BF16Unit
		}
	}
	e.verify()
	return res, true
}

// opCase is one call (or a short sequence of calls) of one op: run makes
// the inputs from a fixed seed, so both backends of RunAgainst see the same,
// calls the op, and returns its outputs beside their references.
type opCase struct {
	name string
	off  int  // the views' offset in their allocations
	bf16 bool // Tolerances.BF16: buffers by role, inputs rounded to bf16
	run  func(e *env) []result
}

// group is the cases of one op.
type group struct {
	name  string
	cases []opCase
}

// withMisaligned appends a copy of cases[i] whose buffers sit one float into
// their allocations.
func withMisaligned(cases []opCase, i int) []opCase {
	c := cases[i]
	c.name += ",misaligned"
	c.off = misaligned
	return append(cases, c)
}

// seed mixes a case's sizes into a seed, so every shape has its own data.
func seed(op int, sizes ...int) uint64 {
	s := uint64(op)*0x9e3779b97f4a7c15 + 1
	for _, n := range sizes {
		s = (s ^ uint64(n)) * 0x100000001b3
	}
	return s
}

func name(args ...any) string {
	s := ""
	for i := 0; i+1 < len(args); i += 2 {
		if s != "" {
			s += ","
		}
		s += fmt.Sprintf("%v=%v", args[i], args[i+1])
	}
	return s
}
