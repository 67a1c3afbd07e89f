// ISA: the instruction set the kernels use, chosen once at start-up; BATON_CPU=generic|avx2|avx512 forces one.

package cpu

import (
	"errors"
	"fmt"
	"os"
)

//go:generate sh -c "cd _asm && go run . -out ../simd_amd64.s -stubs ../simd_amd64.go -pkg cpu"

// isa names a set of kernels. Every Ops value keeps one for its life: the
// paths round differently, so mixing them would break the bit-identical
// pipeline (each path on its own is deterministic).
type isa int

// Each set needs what the one before it needs: hostISA reports the last
// one a host runs.
const (
	generic isa = iota // portable Go: the fallback and the reference
	avx2               // AVX2 and FMA micro-kernels in assembly (amd64)
	avx512             // avx2's kernels but the GEMM's, which uses AVX-512F (gemm_kernel_amd64.go), to the same bits
)

func (i isa) String() string {
	switch i {
	case avx2:
		return "avx2"
	case avx512:
		return "avx512"
	}
	return "generic"
}

// simd is what an instruction set replaces of the generic kernels (nil for
// generic). Each entry computes what its generic twin does; where it sums,
// it sums in an order of its own, fixed like the generic one by the shapes
// alone. The entries marked "to the bit" give the generic bits.
type simd struct {
	gemm         func(o *Ops, g gemmArgs)
	gemv         func(o *Ops, g gemmArgs)      // gemm of a single row (M = 1)
	geluForward  func(out, x []float32)        // out = gelu(x)
	geluBackward func(dinp, x, dout []float32) // dinp = gelu'(x) * dout; dinp may be dout
	attnForward  func(o *Ops, a *attnTask, B int)
	attnBackward func(o *Ops, a *attnTask, B int)
	attnRow      func(out, qkv, scores []float32, t, C, hs int) // onlineRow's attention of one query row, scores its scratch
	adamW        func(a *adamTask, lo, hi int)                  // the update of elements [lo, hi)
	sumSquares   func(x []float32) float64                      // in float64, in an order fixed by len(x)
	addColSums   func(dst, src []float32, rows, ld int)         // bias.go's addColSums, to the bit
	add          func(dst, a, b []float32)                      // dst = a + b, to the bit
	addTo2       func(a, b, x []float32)                        // a += x, then b += x, to the bit
	lnRow        func(out, x, w, b []float32) (mean, rstd float32)
	lnBackRow    func(dinp, x, dout, w []float32, mean, rstd float32)   // dinp +=
	lnBackCols   func(dw, db, x, d, mean, rstd []float32, rows, ld int) // layernorm.go's runCols for a column group, to the bit
	ceRow        func(d, x []float32, ix int, dscale float32) float32   // the row's loss; d may be x
}

// bestISA is what New and NewWorkers use: the host's best instruction set
// (hostISA, per architecture), or the one BATON_CPU names;
// envErr says why BATON_CPU cannot be had (bestISA is then the default).
var bestISA, envErr = chooseISA(os.Getenv("BATON_CPU"), hostISA())

// EnvError is why the BATON_CPU the process was started with cannot be
// had here, or nil: a command checks it before any work and stops with it
// (New and NewWorkers panic with it), for a typo must not silently measure
// or test another path than the one asked for.
func EnvError() error { return envErr }

// InstructionSet names the set New and NewWorkers use: generic, avx2 or
// avx512. The sets round differently (generic against the SIMD ones), so a
// run's record keeps it.
func InstructionSet() string { return bestISA.String() }

// InstructionSets names every set this host runs, the portable one first:
// what BATON_CPU may name here.
func InstructionSets() []string {
	var names []string
	for i := generic; i <= hostISA(); i++ {
		names = append(names, i.String())
	}
	return names
}

// chooseISA reads BATON_CPU: empty picks the best that host runs;
// "generic" forces the portable path, "avx2" and "avx512" insist on a SIMD
// one. Anything else, or an instruction set the host
// lacks, is an error (with the default chosen beside it).
func chooseISA(env string, host isa) (isa, error) {
	switch env {
	case "":
		// avx512 since it passed its tests on AVX-512 hardware, where its
		// GEMM ran 1.7× avx2's (Zen 5, 2026-12-07): it gives avx2's bits.
		return host, nil
	case generic.String():
		return generic, nil
	case avx2.String():
		if host >= avx2 {
			return avx2, nil
		}
		return host, errors.New("BATON_CPU=avx2, but this CPU lacks AVX2 or FMA (or this is not amd64); unset it for the best this CPU has")
	case avx512.String():
		if host >= avx512 {
			return avx512, nil
		}
		return host, errors.New("BATON_CPU=avx512, but this CPU lacks AVX-512F, AVX2 or FMA, or the OS does not save zmm state (or this is not amd64); unset it for the best this CPU has")
	}
	return host, fmt.Errorf("BATON_CPU=%q: want generic, avx2, avx512, or unset for the best this CPU has", env)
}
