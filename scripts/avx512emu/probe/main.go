// Command probe checks that the CPU it runs on executes AVX-512: it reports CPUID's AVX512F
// bit and the OS's XCR0 state, then adds two 16-float vectors in a zmm register.
//
// Natively on a CPU without AVX-512 it dies with SIGILL at the VADDPS; under the Bochs
// harness (scripts/avx512-emu.sh) it must print the right sum and exit 0.
package main

import (
	"fmt"
	"os"
)

// cpuid returns the registers of CPUID leaf/subleaf.
func cpuid(leaf, sub uint32) (a, b, c, d uint32)

// xgetbv0 returns XCR0, the register state the OS saves; it must include opmask and zmm.
func xgetbv0() uint64

// addps16 sets dst = x + y with one VADDPS on Z registers.
func addps16(dst, x, y *[16]float32)

func main() {
	_, b, _, _ := cpuid(7, 0)
	_, _, c1, _ := cpuid(1, 0)
	avx512f := b&(1<<16) != 0
	fmt.Printf("probe: cpuid avx512f=%v avx512bw=%v avx512vl=%v\n", avx512f, b&(1<<30) != 0, b&(1<<31) != 0)
	if c1&(1<<27) != 0 { // OSXSAVE: XGETBV would fault without it.
		// Bits 5-7: opmask, ZMM_Hi256, Hi16_ZMM; 0xe6 with SSE and AVX state.
		fmt.Printf("probe: xcr0=%#x (avx512 state enabled=%v)\n", xgetbv0(), xgetbv0()&0xe6 == 0xe6)
	}
	var x, y, got [16]float32
	for i := range x {
		x[i] = float32(i)
		y[i] = float32(100 * i)
	}
	addps16(&got, &x, &y)
	bad := 0
	for i := range got {
		if got[i] != x[i]+y[i] {
			bad++
		}
	}
	fmt.Printf("probe: vaddps zmm sum=%v\n", got)
	if bad != 0 {
		fmt.Printf("probe: FAIL: %d of 16 lanes wrong\n", bad)
		os.Exit(1)
	}
	fmt.Println("probe: OK")
}
