//go:build cuda

// The driver calls gorgonia.org/cu lacks, other than green contexts: the driver's own names for its error codes, and portable pinned host memory.

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
*/
import "C"

import (
	"fmt"
	"unsafe"
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
