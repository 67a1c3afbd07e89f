//go:build cuda

// The fused GEMMs on a bias that is a view at an odd offset: cuBLASLt's epilogue needs it 16-byte aligned.

package cuda

import (
	"math/rand/v2"
	"testing"

	"baton/kernels"
	"baton/kernels/cpu"
)

// TestGemmBiasOnAMisalignedBias: GemmBias and GemmBiasGELU with the bias a
// view one element into a buffer (4 bytes in float32, 2 in bf16) run
// unfused, and right: handed to cuBLASLt, a GPU faults on the misaligned
// load (cudaemu refuses the call, as it does every misuse it can see).
func TestGemmBiasOnAMisalignedBias(t *testing.T) {
	const M, N, K = 5, 16, 8
	ref := cpu.NewWorkers(1)
	for _, prec := range []kernels.Precision{kernels.FP32, kernels.BF16} {
		o := testOps(t, prec)
		r := rand.New(rand.NewPCG(3, uint64(prec)))
		da, ha := tUploadAs(o, kernels.Working, randSlice(r, M*K))
		db, hb := tUploadAs(o, kernels.Weights, randSlice(r, K*N))
		whole, hwhole := tUploadAs(o, kernels.Weights, randSlice(r, N+1))
		bias, hbias := o.Slice(whole, 1, N), hwhole[1:]
		want := make([]float32, M*N)
		ref.Gemm(false, false, M, N, K, 1, cpu.F32(ha), cpu.F32(hb), 0, cpu.F32(want))
		ref.BiasForward(cpu.F32(want), cpu.F32(hbias), M, N)
		dc, _ := tUploadAs(o, kernels.Working, make([]float32, M*N))
		dpre, _ := tUploadAs(o, kernels.Working, make([]float32, M*N))
		calls := o.blas.ltCalls
		o.GemmBias(false, false, M, N, K, da, db, bias, dc)
		o.GemmBiasGELU(false, false, M, N, K, da, db, bias, dpre, dc)
		if o.blas.ltCalls != calls {
			t.Errorf("%v: a bias 1 element into its buffer went to cuBLASLt", prec)
		}
		if e := relErr(tDownload(o, dpre), want); e > 1e-2 {
			t.Errorf("%v: pre off by a relative %.3g", prec, e)
		}
		tFree(o, da, db, whole, dc, dpre)
	}
}
