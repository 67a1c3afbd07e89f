//go:build !amd64

// Architectures without SIMD kernels: every Ops value takes the generic path.

package cpu

func hostISA() isa { return generic }

func simdFor(isa) *simd { return nil }
