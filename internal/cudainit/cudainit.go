//go:build cuda

// Package cudainit starts the CUDA driver before gorgonia.org/cu does, so that
// a CUDA build on a machine without a GPU or driver says so in one clear line
// on stderr rather than cu's bare message on stdout.
//
// gorgonia.org/cu calls cuInit in its package init and exits when it fails;
// nothing that runs later can catch that. Go initialises packages in the
// order of their import paths among those whose imports are done, and this
// package imports only what cu imports too (os, and cgo's own), while
// "baton/…" sorts before "gorgonia.org/…": so this init runs first. cuInit
// may be called again after it succeeds.
package cudainit

/*
#cgo CFLAGS: -I/usr/local/cuda/include
#cgo LDFLAGS: -L/usr/local/cuda/lib64 -L/usr/local/cuda/lib64/stubs -lcuda
#include <cuda.h>
*/
import "C"

import "os"

func init() {
	r := C.cuInit(0)
	if r == C.CUDA_SUCCESS {
		return
	}
	var name, text *C.char
	C.cuGetErrorName(r, &name)
	C.cuGetErrorString(r, &text)
	msg := "cuInit failed"
	if name != nil && text != nil {
		msg = "cuInit: " + C.GoString(name) + " (" + C.GoString(text) + ")"
	}
	os.Stderr.WriteString(program() + ": CUDA did not start: " + msg + ". This binary was built with -tags cuda " +
		"and needs an NVIDIA GPU and its driver; without them, use the default build (go build ./cmd/baton), " +
		"whose cpu: devices run anywhere.\n")
	os.Exit(1)
}

// program is the base name of the running binary.
func program() string {
	p := os.Args[0]
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}
