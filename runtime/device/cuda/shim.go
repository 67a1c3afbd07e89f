//go:build cuda

// The driver calls gorgonia.org/cu lacks, other than green contexts: the driver's own names for its error codes, portable pinned host memory, and stream capture with CUDA graphs.

package cuda

/*
#cgo LDFLAGS: -lcuda
#include <cuda.h>

// Not in cu: its generator skips cuGetErrorName and cuGetErrorString (its
// errors print Go names such as "OutOfMemory"); baton's errors give the
// driver's name and description, as a user searching for them needs.
static const char* bt_errName(CUresult r) { const char* s = 0; if (cuGetErrorName(r, &s) != CUDA_SUCCESS) return 0; return s; }
static const char* bt_errString(CUresult r) { const char* s = 0; if (cuGetErrorString(r, &s) != CUDA_SUCCESS) return 0; return s; }

// Not in cu: its generator maps cuMemHostAlloc (and cuMemAllocHost) to
// C.malloc, but a staged copy needs pinned memory that the contexts at both
// of its ends may use (CU_MEMHOSTALLOC_PORTABLE). cu.MemFreeHost frees it.
static CUresult bt_hostAlloc(void** p, size_t n) { return cuMemHostAlloc(p, n, CU_MEMHOSTALLOC_PORTABLE); }

// Not in cu: stream capture and CUDA graphs, which its generator predates
// (graph.go). Capture is thread-local: only the capturing thread's own
// unsafe calls (a synchronous copy, an allocation) break it, not those of
// the other devices' workers.
static CUresult bt_beginCapture(CUstream s) { return cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL); }
// Ends the capture, giving its graph (none when the capture was invalidated).
static CUresult bt_endCapture(CUstream s, CUgraph* g) { *g = 0; return cuStreamEndCapture(s, g); }
// cuGraphInstantiateWithFlags (CUDA 11.4+) rather than cuGraphInstantiate,
// whose signature changed in CUDA 12.
static CUresult bt_instantiate(CUgraphExec* e, CUgraph g) { return cuGraphInstantiateWithFlags(e, g, 0); }
// Enqueues the instance's work on s, as the captured calls would have been.
static CUresult bt_graphLaunch(CUgraphExec e, CUstream s) { return cuGraphLaunch(e, s); }
// An instance in flight is freed once its launch completes.
static CUresult bt_graphExecDestroy(CUgraphExec e) { return cuGraphExecDestroy(e); }
static CUresult bt_graphDestroy(CUgraph g) { return cuGraphDestroy(g); }
*/
import "C"

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"
)

// errorText is the driver's name and description of a CUresult.
func errorText(code int) (name, msg string) {
	name, msg = fmt.Sprintf("CUresult %d", code), "unknown error"
	if s := C.bt_errName(C.CUresult(code)); s != nil {
		name = C.GoString(s)
	}
	if s := C.bt_errString(C.CUresult(code)); s != nil {
		msg = C.GoString(s)
	}
	return name, msg
}

// hostAlloc is n bytes of pinned host memory usable from every context.
func hostAlloc(n int64) (unsafe.Pointer, error) {
	var p unsafe.Pointer
	if r := C.bt_hostAlloc(&p, C.size_t(n)); r != C.CUDA_SUCCESS {
		return nil, &DriverError{Op: fmt.Sprintf("cuMemHostAlloc(%d bytes)", n), Code: int(r)}
	}
	return p, nil
}

// graphExec is an instantiated CUDA graph (CUgraphExec).
type graphExec struct{ h C.CUgraphExec }

// cStream is s's driver handle.
func cStream(s cu.Stream) C.CUstream { return C.CUstream(unsafe.Pointer(s.C())) }

// beginCapture starts a thread-local capture of s's work.
func beginCapture(s cu.Stream) error {
	return callErr("cuStreamBeginCapture", C.bt_beginCapture(cStream(s)))
}

// endCapture ends s's capture and instantiates its graph (the graph itself
// is destroyed: the instance keeps what it needs). An invalidated capture
// gives CUDA_ERROR_STREAM_CAPTURE_INVALIDATED.
func endCapture(s cu.Stream) (graphExec, error) {
	var g C.CUgraph
	if err := callErr("cuStreamEndCapture", C.bt_endCapture(cStream(s), &g)); err != nil {
		if g != nil {
			C.bt_graphDestroy(g)
		}
		return graphExec{}, err
	}
	defer C.bt_graphDestroy(g)
	var e C.CUgraphExec
	if err := callErr("cuGraphInstantiateWithFlags", C.bt_instantiate(&e, g)); err != nil {
		return graphExec{}, err
	}
	return graphExec{e}, nil
}

// launch enqueues e's work on s.
func (e graphExec) launch(s cu.Stream) error {
	return callErr("cuGraphLaunch", C.bt_graphLaunch(e.h, cStream(s)))
}

func (e graphExec) destroy() error {
	return callErr("cuGraphExecDestroy", C.bt_graphExecDestroy(e.h))
}

// callErr is a DriverError for a failed call, nil for success.
func callErr(op string, r C.CUresult) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	return &DriverError{Op: op, Code: int(r)}
}
