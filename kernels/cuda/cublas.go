//go:build cuda

// cuBLAS: the library loaded at run time with dlopen (never linked), its handles, the
// GEMM entry points the backend calls, and their status codes.
//
// Why dlopen: Debian's libcublas.so.11 (what this code builds against) has versioned
// symbols, so a binary linked to it fails to start where only CUDA 12 or 13 is
// installed. The entry points used here (cublasCreate_v2, cublasDestroy_v2,
// cublasSetStream_v2, cublasSetMathMode, cublasSgemm_v2, cublasGemmEx,
// cublasSscal_v2) have the same C ABI in cuBLAS 11 to 13, so they are
// declared here by hand and resolved by name from whichever library is found:
// $BATON_CUBLAS if set, then libcublas.so.13, .12, .11, libcublas.so.
//
// cuBLAS keeps the heuristics of the first context it is initialised in: on the H100,
// a first handle made in an 8-SM green context left a later whole-GPU handle at 28
// TFLOP/s instead of 431. So the first handle of the process must be made on the whole
// GPU, in its primary context: New does it (primeDevice) before its own handle, and
// PrimeCublas does it for callers who need it earlier.

package cuda

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*baton_create_t)(void**);
typedef int (*baton_destroy_t)(void*);
typedef int (*baton_setstream_t)(void*, void*);
typedef int (*baton_setmath_t)(void*, int);
typedef int (*baton_getversion_t)(void*, int*);
typedef int (*baton_sgemm_t)(void*, int, int, int, int, int, const float*, const float*, int,
	const float*, int, const float*, float*, int);
typedef int (*baton_gemmex_t)(void*, int, int, int, int, int, const void*, const void*, int, int,
	const void*, int, int, const void*, void*, int, int, int, int);
typedef int (*baton_sscal_t)(void*, int, const float*, float*, int);

static void* baton_cublas_lib;
static char baton_cublas_name[512];
static baton_create_t baton_cublas_create;
static baton_destroy_t baton_cublas_destroy;
static baton_setstream_t baton_cublas_setstream;
static baton_setmath_t baton_cublas_setmath;
static baton_getversion_t baton_cublas_getversion;
static baton_sgemm_t baton_cublas_sgemm;
static baton_gemmex_t baton_cublas_gemmex;
static baton_sscal_t baton_cublas_sscal;

// baton_cublas_open loads cuBLAS (first, if not empty, then the usual sonames) and
// resolves every entry point. 0: loaded; -1: no library (err lists dlerror's messages);
// -2: a symbol is missing (err names it).
static int baton_cublas_open(const char* first, char* err, int errlen) {
	const char* names[] = {first, "libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so", 0};
	int used = 0;
	err[0] = 0;
	for (int i = 0; names[i]; i++) {
		if (!names[i][0]) continue;
		baton_cublas_lib = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
		if (baton_cublas_lib) {
			snprintf(baton_cublas_name, sizeof baton_cublas_name, "%s", names[i]);
			break;
		}
		const char* e = dlerror();
		if (used < errlen) used += snprintf(err + used, errlen - used, "%s%s", used ? "; " : "", e ? e : names[i]);
	}
	if (!baton_cublas_lib) return -1;
#define BATON_SYM(var, type, sym) \
	var = (type)dlsym(baton_cublas_lib, sym); \
	if (!var) { snprintf(err, errlen, "%s has no %s", baton_cublas_name, sym); return -2; }
	BATON_SYM(baton_cublas_create, baton_create_t, "cublasCreate_v2")
	BATON_SYM(baton_cublas_destroy, baton_destroy_t, "cublasDestroy_v2")
	BATON_SYM(baton_cublas_setstream, baton_setstream_t, "cublasSetStream_v2")
	BATON_SYM(baton_cublas_setmath, baton_setmath_t, "cublasSetMathMode")
	BATON_SYM(baton_cublas_getversion, baton_getversion_t, "cublasGetVersion_v2")
	BATON_SYM(baton_cublas_sgemm, baton_sgemm_t, "cublasSgemm_v2")
	BATON_SYM(baton_cublas_gemmex, baton_gemmex_t, "cublasGemmEx")
	BATON_SYM(baton_cublas_sscal, baton_sscal_t, "cublasSscal_v2")
#undef BATON_SYM
	return 0;
}

static const char* baton_cublas_libname(void) { return baton_cublas_name; }
static int baton_cublas_new(void** h) { return baton_cublas_create(h); }
static int baton_cublas_free(void* h) { return baton_cublas_destroy(h); }
static int baton_cublas_stream(void* h, void* s) { return baton_cublas_setstream(h, s); }
static int baton_cublas_math(void* h, int mode) { return baton_cublas_setmath(h, mode); }
static int baton_cublas_version(void* h, int* v) { return baton_cublas_getversion(h, v); }

static int baton_sgemm(void* h, int ta, int tb, int m, int n, int k, float alpha,
		unsigned long long a, int lda, unsigned long long b, int ldb, float beta, unsigned long long c, int ldc) {
	return baton_cublas_sgemm(h, ta, tb, m, n, k, &alpha, (const float*)a, lda, (const float*)b, ldb,
		&beta, (float*)c, ldc);
}

// fp32 storage (CUDA_R_32F = 0) throughout; compute is CUBLAS_COMPUTE_32F (68) or
// CUBLAS_COMPUTE_32F_FAST_TF32 (77); algo CUBLAS_GEMM_DEFAULT (-1).
static int baton_gemmex(void* h, int ta, int tb, int m, int n, int k, float alpha,
		unsigned long long a, int lda, unsigned long long b, int ldb, float beta, unsigned long long c, int ldc,
		int compute) {
	return baton_cublas_gemmex(h, ta, tb, m, n, k, &alpha, (const void*)a, 0, lda, (const void*)b, 0, ldb,
		&beta, (void*)c, 0, ldc, compute, -1);
}

static int baton_sscal(void* h, int n, float alpha, unsigned long long x) {
	return baton_cublas_sscal(h, n, &alpha, (float*)x, 1);
}
*/
import "C"

import (
	"fmt"
	"os"
	"sync"
	"unsafe"

	"gorgonia.org/cu"

	"baton/kernels"
)

// cuBLAS constants (cublas_api.h, library_types.h), stable across versions 11 to 13.
const (
	cublasOpN = 0 // CUBLAS_OP_N
	cublasOpT = 1 // CUBLAS_OP_T

	cublasDefaultMath    = 0 // CUBLAS_DEFAULT_MATH
	cublasTF32TensorOp   = 3 // CUBLAS_TF32_TENSOR_OP_MATH
	cublasCompute32F     = 68
	cublasCompute32FTF32 = 77 // CUBLAS_COMPUTE_32F_FAST_TF32
)

// cublasStatus is a cublasStatus_t.
type cublasStatus int

var cublasStatusNames = map[cublasStatus]string{
	0:  "CUBLAS_STATUS_SUCCESS",
	1:  "CUBLAS_STATUS_NOT_INITIALIZED",
	3:  "CUBLAS_STATUS_ALLOC_FAILED",
	7:  "CUBLAS_STATUS_INVALID_VALUE",
	8:  "CUBLAS_STATUS_ARCH_MISMATCH",
	11: "CUBLAS_STATUS_MAPPING_ERROR",
	13: "CUBLAS_STATUS_EXECUTION_FAILED",
	14: "CUBLAS_STATUS_INTERNAL_ERROR",
	15: "CUBLAS_STATUS_NOT_SUPPORTED",
	16: "CUBLAS_STATUS_LICENSE_ERROR",
}

func (s cublasStatus) String() string {
	if n, ok := cublasStatusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("CUBLAS_STATUS_%d", int(s))
}

// cublasError is a failed cuBLAS call.
type cublasError struct {
	call   string
	status cublasStatus
}

func (e *cublasError) Error() string { return e.call + ": " + e.status.String() }

// cublasCheck turns a status into an error naming the call (nil on success).
func cublasCheck(call string, status C.int) error {
	if status == 0 {
		return nil
	}
	return &cublasError{call: call, status: cublasStatus(status)}
}

var cublasLib struct {
	once sync.Once
	name string
	err  error
}

// loadCublas dlopens cuBLAS once per process and resolves its entry points.
func loadCublas() error {
	cublasLib.once.Do(func() {
		first := C.CString(os.Getenv("BATON_CUBLAS"))
		defer C.free(unsafe.Pointer(first))
		var msg [2048]C.char
		switch C.baton_cublas_open(first, &msg[0], C.int(len(msg))) {
		case 0:
			cublasLib.name = C.GoString(C.baton_cublas_libname())
		case -1:
			cublasLib.err = fmt.Errorf("cuda: cannot load cuBLAS (tried $BATON_CUBLAS, libcublas.so.13, .12, .11, libcublas.so; add its directory to LD_LIBRARY_PATH): %s", C.GoString(&msg[0]))
		default:
			cublasLib.err = fmt.Errorf("cuda: cuBLAS: %s", C.GoString(&msg[0]))
		}
	})
	return cublasLib.err
}

// CublasLibrary names the cuBLAS library loaded ("" before the first Ops or on failure).
func CublasLibrary() string {
	if err := loadCublas(); err != nil {
		return ""
	}
	return cublasLib.name
}

// cublasHandle is one cuBLAS handle, bound to a stream, with the math mode of a precision.
type cublasHandle struct {
	h       unsafe.Pointer
	compute C.int // cublasComputeType_t of GemmEx
	version int
}

// newCublasHandle creates a handle in the current context (the caller's), bound to
// stream, in prec's math mode.
func newCublasHandle(stream cu.Stream, prec kernels.Precision) (*cublasHandle, error) {
	if err := loadCublas(); err != nil {
		return nil, err
	}
	c := &cublasHandle{compute: cublasCompute32F}
	if err := cublasCheck("cublasCreate_v2", C.baton_cublas_new(&c.h)); err != nil {
		return nil, fmt.Errorf("cuda: %w", err)
	}
	mode := C.int(cublasDefaultMath)
	if prec == kernels.TF32 {
		mode, c.compute = cublasTF32TensorOp, cublasCompute32FTF32
	}
	var v C.int
	err := cublasCheck("cublasSetStream_v2", C.baton_cublas_stream(c.h, unsafe.Pointer(stream.C())))
	if err == nil {
		err = cublasCheck("cublasSetMathMode", C.baton_cublas_math(c.h, mode))
	}
	if err == nil {
		err = cublasCheck("cublasGetVersion_v2", C.baton_cublas_version(c.h, &v))
	}
	if err != nil {
		C.baton_cublas_free(c.h)
		return nil, fmt.Errorf("cuda: %w", err)
	}
	c.version = int(v)
	return c, nil
}

// destroy releases the handle (its context current).
func (c *cublasHandle) destroy() error {
	if c == nil || c.h == nil {
		return nil
	}
	err := cublasCheck("cublasDestroy_v2", C.baton_cublas_free(c.h))
	c.h = nil
	return err
}

// gemm is the column-major C = alpha op(A) op(B) + beta C of cuBLAS: m, n, k and the
// leading dimensions in cuBLAS's sense. FP32 calls cublasSgemm_v2; TF32 calls
// cublasGemmEx with CUBLAS_COMPUTE_32F_FAST_TF32.
func (c *cublasHandle) gemm(transA, transB bool, m, n, k int, alpha float32, a cu.DevicePtr, lda int,
	b cu.DevicePtr, ldb int, beta float32, cp cu.DevicePtr, ldc int) error {
	ta, tb := cublasOp(transA), cublasOp(transB)
	if c.compute == cublasCompute32F {
		return cublasCheck("cublasSgemm_v2", C.baton_sgemm(c.h, ta, tb, C.int(m), C.int(n), C.int(k), C.float(alpha),
			C.ulonglong(a), C.int(lda), C.ulonglong(b), C.int(ldb), C.float(beta), C.ulonglong(cp), C.int(ldc)))
	}
	return cublasCheck("cublasGemmEx", C.baton_gemmex(c.h, ta, tb, C.int(m), C.int(n), C.int(k), C.float(alpha),
		C.ulonglong(a), C.int(lda), C.ulonglong(b), C.int(ldb), C.float(beta), C.ulonglong(cp), C.int(ldc), c.compute))
}

// scal is x[0:n] *= alpha (cublasSscal_v2, float32 whatever the precision).
func (c *cublasHandle) scal(n int, alpha float32, x cu.DevicePtr) error {
	return cublasCheck("cublasSscal_v2", C.baton_sscal(c.h, C.int(n), C.float(alpha), C.ulonglong(x)))
}

func cublasOp(trans bool) C.int {
	if trans {
		return cublasOpT
	}
	return cublasOpN
}

// primed holds the handles PrimeCublas made, one per context, for the life of the
// process, and the devices whose primary context has one.
var primed struct {
	sync.Mutex
	handles map[cu.CUContext]*cublasHandle
	devices map[cu.Device]bool
}

// PrimeCublas loads cuBLAS and creates a handle in ctx, which it keeps for the life of
// the process. cuBLAS keeps the heuristics of the first context it is initialised in,
// and a first handle made in a small SM partition (green context) slows every later
// GEMM on the whole GPU by an order of magnitude (GPU.md); so the first handle must be
// made in the GPU's primary context. New does that itself (primeDevice), so callers
// need PrimeCublas only to prime a GPU before some other library makes a handle.
// Safe from any thread (ctx is pushed for the call); again for the same ctx: a no-op.
func PrimeCublas(ctx cu.CUContext) error {
	primed.Lock()
	defer primed.Unlock()
	if primed.handles[ctx] != nil {
		return nil
	}
	var h *cublasHandle
	err := withContext(ctx, func() error {
		var err error
		h, err = newCublasHandle(cu.Stream{}, kernels.FP32) // the NULL stream: the handle never runs work
		return err
	})
	if err != nil {
		return fmt.Errorf("cuda: PrimeCublas(%v): %w", ctx, err)
	}
	if primed.handles == nil {
		primed.handles = map[cu.CUContext]*cublasHandle{}
	}
	primed.handles[ctx] = h
	return nil
}

// primeDevice makes sure that dev's primary context holds a cuBLAS handle (PrimeCublas)
// before any other context of dev makes one. It retains the primary context for the
// life of the process.
func primeDevice(dev cu.Device) error {
	primed.Lock()
	done := primed.devices[dev]
	primed.Unlock()
	if done {
		return nil
	}
	primary, err := dev.RetainPrimaryCtx()
	if err != nil {
		return fmt.Errorf("cuda: retain the primary context of device %d: %w", int(dev), err)
	}
	if err := PrimeCublas(primary); err != nil {
		dev.ReleasePrimaryCtx()
		return err
	}
	primed.Lock()
	defer primed.Unlock()
	if primed.devices == nil {
		primed.devices = map[cu.Device]bool{}
	}
	if primed.devices[dev] {
		dev.ReleasePrimaryCtx() // a concurrent New got there first
	}
	primed.devices[dev] = true
	return nil
}
