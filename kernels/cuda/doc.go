//go:build cuda

// Package cuda is the GPU backend of kernels.Ops: float32 buffers in device memory,
// the llm.c-style kernels written in CUDA C (src/*.cu, compiled to PTX for compute_80
// by scripts/build-kernels.sh, committed in ptx/ and embedded in the binary), and the
// matrix products on cuBLAS (loaded with dlopen, never linked) in FP32 or TF32.
//
// Main types:
//   - Ops: the backend for one CUDA context and one stream; every method enqueues
//     its work on that stream, in call order. Made by New, released by Close.
//   - Buf: a device buffer (pointer, element count, int32 or float32); a Slice is a
//     Buf pointing inside another.
//   - Allocator: a caching allocator per context, which counts live and peak bytes.
//   - kernels.Precision: FP32 or TF32, the arithmetic of the GEMMs.
//
// Threads: the caller makes the Ops' context current on its OS thread before calling
// it (the runtime's device workers lock their thread and do so once). Alloc, AllocInt
// and TryAlloc may be called from any thread: they push the Ops' context for the call.
//
// The package builds only with -tags cuda and cgo, against the CUDA driver API
// (libcuda) through gorgonia.org/cu, which exits the process in its init when there
// is no GPU: so the default build never links it, and this package's tests run only on
// a machine with a GPU (on others `go test -c -tags cuda` still checks that they build).
package cuda
