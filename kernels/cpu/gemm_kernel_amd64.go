// Packed GEMM kernels: what each instruction set brings to the shared driver (the register block's width, the micro-kernel, the B packers).

package cpu

// packedKernel is one instruction set's part of the packed GEMM. The
// driver (gemm_packed_amd64.go, gemm_tile_amd64.go, pack_amd64.go) is the
// same for all; it tiles, packs and pads in units of nr. Both kernels give
// every element of c the same arithmetic (k in order, one FMA per term
// from zero, one FMA into c), so the GEMM's bits do not depend on which
// one ran.
type packedKernel struct {
	nr     int                                                                                            // the register block's columns, and the B panels'
	micro  func(kc int, a *float32, rsa, csa int, b, c *float32, ldc int, alpha float32, accumulate bool) // an mr x nr block of c (sgemm6x16's contract)
	packB  func(dst, src *float32, kc, lds int)                                                           // a full B panel from b as stored (packPanel16's contract)
	packBT func(dst, src *float32, kc, lds int)                                                           // a full B panel from b transposed, kc a multiple of 8 (packPanel16T's)
}

// nrMax is the widest nr, the size of the edge scratch tiles.
const nrMax = 32

var (
	avx2Packed   = packedKernel{nr: 16, micro: sgemm6x16, packB: packPanel16, packBT: packPanel16T}
	avx512Packed = packedKernel{nr: 32, micro: sgemm6x32, packB: packPanel32, packBT: packPanel32T} // packers in ymm: only sgemm6x32 needs AVX-512
)

// packedFor is the kernel of an Ops value's instruction set. Only the
// avx512 set has a kernel of its own; attention's single-worker Ops
// (oneWorker, which names no set) gets avx2's, so attention is the same
// code on both sets.
func packedFor(i isa) *packedKernel {
	if i == avx512 {
		return &avx512Packed
	}
	return &avx2Packed
}
