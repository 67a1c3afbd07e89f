// The amd64 instruction sets: detection from CPUID (golang.org/x/sys/cpu, which also checks the OS saves ymm state) and their kernels.

package cpu

import xcpu "golang.org/x/sys/cpu"

func hostISA() isa {
	if xcpu.X86.HasAVX2 && xcpu.X86.HasFMA {
		return avx2
	}
	return generic
}

var avx2Kernels = simd{
	gemm:         (*Ops).gemmPacked,
	geluForward:  geluForwardVec,
	geluBackward: geluBackwardVec,
	attnForward:  attentionForwardGEMM,
	attnBackward: attentionBackwardGEMM,
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

func simdFor(i isa) *simd {
	if i == avx2 {
		return &avx2Kernels
	}
	return nil
}
