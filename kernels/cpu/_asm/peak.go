// The FMA loop that measures the machine's peak: BenchmarkFMAPeak in kernels/cpu runs it on every core.

package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// peakChains independent accumulators cover an FMA latency of up to 6
// cycles on two pipes: no iteration waits on the one before it.
const peakChains = 12

func fmaLoop() {
	TEXT("fmaLoop", NOSPLIT, "func(n int)")
	Doc(
		"fmaLoop runs n iterations of 12 independent ymm FMAs (192 flops each)",
		"on zeros, which no denormal path can slow down.",
	)
	n := Load(Param("n"), GP64())
	x := YMM()
	VXORPS(x, x, x)
	var acc [peakChains]VecVirtual
	for i := range acc {
		acc[i] = YMM()
		VXORPS(acc[i], acc[i], acc[i])
	}
	TESTQ(n, n)
	JZ(LabelRef("done"))
	Label("loop")
	for i := range acc {
		VFMADD231PS(x, x, acc[i])
	}
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}
