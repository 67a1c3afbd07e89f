// Command _asm generates kernels/cpu's amd64 assembly with avo; go generate in kernels/cpu runs it.
//
// It is a module of its own so that avo (and the golang.org/x/tools it
// brings) stays out of baton's go.mod: the generated .s and its Go stubs are
// committed, and building baton never runs this program.
// scripts/check-asm.sh regenerates both files and fails if they differ from
// the committed ones.
package main

import . "github.com/mmcloughlin/avo/build"

func main() {
	ConstraintExpr("amd64")
	sgemmKernels()
	packPanels()
	packPanelsT()
	expShift()
	rowMax()
	geluForward()
	geluBackward()
	adamW()
	sumSquares()
	colSums32()
	addVec()
	addTo2()
	rowSum()
	rowDevSq()
	lnNorm()
	lnBackSums()
	lnBackOut()
	lnColSums16()
	dotF32()
	axpyF32()
	gemvRow64()
	gemvT8()
	softmaxGrad()
	fmaLoop()
	Generate()
}
