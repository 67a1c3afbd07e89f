// The amd64 instruction sets: detection from CPUID (golang.org/x/sys/cpu, which also checks the OS saves ymm and zmm state) and their kernels.

package cpu

import xcpu "golang.org/x/sys/cpu"

// hostISA is the last instruction set (isa.go) this host runs.
func hostISA() isa {
	switch {
	case !xcpu.X86.HasAVX2 || !xcpu.X86.HasFMA:
		return generic
	case xcpu.X86.HasAVX512F:
		return avx512
	}
	return avx2
}

var avx2Kernels = simd{
	gemm:         (*Ops).gemmPacked,
	gemv:         (*Ops).gemvVec,
	geluForward:  geluForwardVec,
	geluBackward: geluBackwardVec,
	attnForward:  attentionForwardGEMM,
	attnBackward: attentionBackwardGEMM,
	attnRow:      attnRowVec,
	adamW:        adamWVec,
	sumSquares:   sumSquaresVec,
	addColSums:   addColSumsVec,
	add:          addSlices,
	addTo2:       addTo2Vec,
	lnRow:        lnRowVec,
	lnBackRow:    lnBackRowVec,
	lnBackCols:   lnBackColsVec,
	ceRow:        ceRowVec,
}

// simdFor gives avx512 avx2's kernels: its GEMM differs only in the
// packed kernel that gemmStrided takes from the Ops value's isa
// (packedFor).
func simdFor(i isa) *simd {
	if i >= avx2 {
		return &avx2Kernels
	}
	return nil
}
