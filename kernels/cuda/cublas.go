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
// $BATON_CUBLAS if set, then libcublas.so.13, .12, .11, libcublas.so. cuBLASLt's
// (cublasLtCreate, the matmul, layout and preference descriptors, the heuristic,
// cublasLtMatmul: the GEMMs with a bias or GELU epilogue) are looked up in that
// library's dependencies, then libcublasLt.so.13, .12, .11, libcublasLt.so; without
// them the fused GEMMs run unfused.
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

// baton_cublas_open loads cuBLAS (first, if not empty, else the usual sonames) and
// resolves every entry point. 0: loaded; -1: no library (err lists dlerror's messages);
// -2: a symbol is missing (err names it); -3: first does not load (err says why), where
// falling back to another library would ignore what the user set.
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
		if (i == 0) {
			snprintf(err, errlen, "%s", e ? e : first);
			return -3;
		}
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

// One storage type for A, B and C: CUDA_R_32F (0) or CUDA_R_16BF (14); compute is
// CUBLAS_COMPUTE_32F (68) or CUBLAS_COMPUTE_32F_FAST_TF32 (77), whose alpha and beta
// are floats whatever the storage; algo CUBLAS_GEMM_DEFAULT (-1).
static int baton_gemmex(void* h, int ta, int tb, int m, int n, int k, float alpha,
		unsigned long long a, int lda, unsigned long long b, int ldb, float beta, unsigned long long c, int ldc,
		int dtype, int compute) {
	return baton_cublas_gemmex(h, ta, tb, m, n, k, &alpha, (const void*)a, dtype, lda, (const void*)b, dtype, ldb,
		&beta, (void*)c, dtype, ldc, compute, -1);
}

static int baton_sscal(void* h, int n, float alpha, unsigned long long x) {
	return baton_cublas_sscal(h, n, &alpha, (float*)x, 1);
}

// cuBLASLt: the matmul with epilogues (bias, GELU). Declared by hand as cuBLAS is
// (cublasLt.h of CUDA 11.8, the same ABI in 12 and 13): handles and descriptors are
// opaque pointers, an algorithm is 8 uint64s, a heuristic result is the algorithm,
// the workspace size, a status, a float and 4 reserved ints.
#include <stdint.h>
typedef struct { uint64_t data[8]; } baton_lt_algo;
typedef struct {
	baton_lt_algo algo;
	size_t workspaceSize;
	int state;
	float wavesCount;
	int reserved[4];
} baton_lt_heuristic;
typedef int (*baton_lt_create_t)(void**);
typedef int (*baton_lt_destroy_t)(void*);
typedef int (*baton_lt_desc_create_t)(void**, int, int);
typedef int (*baton_lt_set_t)(void*, int, const void*, size_t);
typedef int (*baton_lt_layout_create_t)(void**, int, uint64_t, uint64_t, int64_t);
typedef int (*baton_lt_heuristic_t)(void*, void*, void*, void*, void*, void*, void*, int, baton_lt_heuristic*, int*);
typedef int (*baton_lt_matmul_t)(void*, void*, const void*, const void*, void*, const void*, void*, const void*,
	const void*, void*, void*, void*, const baton_lt_algo*, void*, size_t, void*);

static baton_lt_create_t baton_lt_create;
static baton_lt_destroy_t baton_lt_destroy;
static baton_lt_desc_create_t baton_lt_desc_create;
static baton_lt_destroy_t baton_lt_desc_destroy;
static baton_lt_set_t baton_lt_desc_set;
static baton_lt_layout_create_t baton_lt_layout_create;
static baton_lt_destroy_t baton_lt_layout_destroy;
static baton_lt_create_t baton_lt_pref_create;
static baton_lt_destroy_t baton_lt_pref_destroy;
static baton_lt_set_t baton_lt_pref_set;
static baton_lt_heuristic_t baton_lt_heuristic_fn;
static baton_lt_matmul_t baton_lt_matmul_fn;

// baton_lt_open resolves cuBLASLt's entry points: from the loaded cuBLAS (whose
// dependency it is, so dlsym finds them there; cudaemu defines them itself), else from
// libcublasLt.so.13, .12, .11, libcublasLt.so. 0: resolved; -1: not found (err names
// the symbol): the backend then runs its epilogues unfused.
static int baton_lt_open(char* err, int errlen) {
	void* libs[6] = {baton_cublas_lib, 0, 0, 0, 0, 0};
	const char* names[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11", "libcublasLt.so", 0};
	int nlibs = 1;
	for (int i = 0; names[i]; i++) {
		void* l = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
		if (l) libs[nlibs++] = l;
	}
	const char* syms[] = {"cublasLtCreate", "cublasLtDestroy", "cublasLtMatmulDescCreate", "cublasLtMatmulDescDestroy",
		"cublasLtMatmulDescSetAttribute", "cublasLtMatrixLayoutCreate", "cublasLtMatrixLayoutDestroy",
		"cublasLtMatmulPreferenceCreate", "cublasLtMatmulPreferenceDestroy", "cublasLtMatmulPreferenceSetAttribute",
		"cublasLtMatmulAlgoGetHeuristic", "cublasLtMatmul", 0};
	void* fns[12];
	for (int i = 0; syms[i]; i++) {
		fns[i] = 0;
		for (int j = 0; j < nlibs && !fns[i]; j++) fns[i] = dlsym(libs[j], syms[i]);
		if (!fns[i]) {
			snprintf(err, errlen, "no %s in %s or libcublasLt", syms[i], baton_cublas_name);
			return -1;
		}
	}
	baton_lt_create = (baton_lt_create_t)fns[0];
	baton_lt_destroy = (baton_lt_destroy_t)fns[1];
	baton_lt_desc_create = (baton_lt_desc_create_t)fns[2];
	baton_lt_desc_destroy = (baton_lt_destroy_t)fns[3];
	baton_lt_desc_set = (baton_lt_set_t)fns[4];
	baton_lt_layout_create = (baton_lt_layout_create_t)fns[5];
	baton_lt_layout_destroy = (baton_lt_destroy_t)fns[6];
	baton_lt_pref_create = (baton_lt_create_t)fns[7];
	baton_lt_pref_destroy = (baton_lt_destroy_t)fns[8];
	baton_lt_pref_set = (baton_lt_set_t)fns[9];
	baton_lt_heuristic_fn = (baton_lt_heuristic_t)fns[10];
	baton_lt_matmul_fn = (baton_lt_matmul_t)fns[11];
	return 0;
}

static int baton_lt_new(void** h) { return baton_lt_create(h); }
static int baton_lt_free(void* h) { return baton_lt_destroy(h); }

// largest power of two dividing p, at most 256: what cuBLASLt may assume of a pointer.
static uint32_t baton_align(unsigned long long p) {
	uint32_t a = 256;
	while (a > 1 && p % a) a /= 2;
	return a;
}

// baton_lt_matmul: column-major D = C = epilogue(alpha op(A) op(B) + beta C) on one
// storage type (CUDA_R_32F or CUDA_R_16BF), CUBLAS_COMPUTE_32F, float alpha and beta.
// epi is a cublasLtEpilogue_t: BIAS (4) adds bias (m, of the storage type) to every
// column; GELU_AUX_BIAS (160) also stores the pre-GELU value to aux (ld auxld) and
// applies GELU; DGELU (192) multiplies by GELU' of aux (an input). The algorithm is *algo when *have, else the heuristic's first, stored
// back. *stage names the step that failed (0 none).
static int baton_lt_matmul(void* lt, int ta, int tb, int m, int n, int k, float alpha,
		unsigned long long a, int lda, unsigned long long b, int ldb, float beta, unsigned long long c, int ldc,
		int dtype, int epi, unsigned long long bias, unsigned long long aux, long long auxld,
		unsigned long long ws, size_t wsSize, void* stream, baton_lt_algo* algo, int* have, int* stage) {
	void *desc = 0, *la = 0, *lb = 0, *lc = 0, *pref = 0;
	int st = 0;
	*stage = 0;
#define LT(step, call) if (st == 0 && (st = (call)) != 0) *stage = step;
	LT(1, baton_lt_desc_create(&desc, 68, 0)) // CUBLAS_COMPUTE_32F, scale type CUDA_R_32F
	LT(2, baton_lt_desc_set(desc, 3, &ta, sizeof ta)) // CUBLASLT_MATMUL_DESC_TRANSA
	LT(2, baton_lt_desc_set(desc, 4, &tb, sizeof tb)) // CUBLASLT_MATMUL_DESC_TRANSB
	LT(2, baton_lt_desc_set(desc, 7, &epi, sizeof epi)) // CUBLASLT_MATMUL_DESC_EPILOGUE
	if (bias) LT(2, baton_lt_desc_set(desc, 8, &bias, sizeof bias)) // CUBLASLT_MATMUL_DESC_BIAS_POINTER
	if (aux) {
		LT(2, baton_lt_desc_set(desc, 11, &aux, sizeof aux)) // CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER
		LT(2, baton_lt_desc_set(desc, 12, &auxld, sizeof auxld)) // CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD
	}
	LT(3, baton_lt_layout_create(&la, dtype, ta ? k : m, ta ? m : k, lda))
	LT(3, baton_lt_layout_create(&lb, dtype, tb ? n : k, tb ? k : n, ldb))
	LT(3, baton_lt_layout_create(&lc, dtype, m, n, ldc))
	if (!*have) {
		uint64_t wsz = wsSize;
		uint32_t al[4] = {baton_align(a), baton_align(b), baton_align(c), baton_align(c)};
		LT(4, baton_lt_pref_create(&pref))
		LT(4, baton_lt_pref_set(pref, 1, &wsz, sizeof wsz)) // CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES
		for (int i = 0; i < 4; i++) LT(4, baton_lt_pref_set(pref, 5 + i, &al[i], sizeof al[i])) // MIN_ALIGNMENT_{A,B,C,D}_BYTES
		baton_lt_heuristic res;
		int found = 0;
		LT(5, baton_lt_heuristic_fn(lt, desc, la, lb, lc, lc, pref, 1, &res, &found))
		if (st == 0 && (found < 1 || res.state != 0)) {
			st = 15; // CUBLAS_STATUS_NOT_SUPPORTED: no algorithm for these operands
			*stage = 5;
		}
		if (st == 0) {
			*algo = res.algo;
			*have = 1;
		}
	}
	LT(6, baton_lt_matmul_fn(lt, desc, &alpha, (const void*)a, la, (const void*)b, lb, &beta, (const void*)c, lc,
		(void*)c, lc, algo, (void*)ws, wsSize, stream))
#undef LT
	if (pref) baton_lt_pref_destroy(pref);
	if (lc) baton_lt_layout_destroy(lc);
	if (lb) baton_lt_layout_destroy(lb);
	if (la) baton_lt_layout_destroy(la);
	if (desc) baton_lt_desc_destroy(desc);
	return st;
}
*/
import "C"

import (
	"errors"
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

	cudaR32F  = 0  // CUDA_R_32F
	cudaR16BF = 14 // CUDA_R_16BF
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
	once  sync.Once
	name  string
	err   error
	ltErr error // why cuBLASLt is not at hand (nil: it is); not fatal
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
			if C.baton_lt_open(&msg[0], C.int(len(msg))) != 0 {
				cublasLib.ltErr = fmt.Errorf("cuda: cuBLASLt: %s", C.GoString(&msg[0]))
			}
		case -1:
			cublasLib.err = &LibraryError{fmt.Sprintf("cannot load cuBLAS (tried libcublas.so.13, .12, .11, libcublas.so; add its directory to LD_LIBRARY_PATH, or set BATON_CUBLAS to its path): %s", C.GoString(&msg[0]))}
		case -3:
			cublasLib.err = &LibraryError{fmt.Sprintf("BATON_CUBLAS=%s does not load (%s); set it to cuBLAS's path (libcublas.so.*), or unset it to look in LD_LIBRARY_PATH", os.Getenv("BATON_CUBLAS"), C.GoString(&msg[0]))}
		default:
			cublasLib.err = &LibraryError{fmt.Sprintf("cuBLAS: %s; set BATON_CUBLAS to a cuBLAS of version 11 to 13", C.GoString(&msg[0]))}
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

// cublasHandle is one cuBLAS handle, bound to a stream, with the math mode of a
// precision, and a cuBLASLt handle where cuBLASLt was found (lt nil otherwise).
type cublasHandle struct {
	h       unsafe.Pointer
	compute C.int // cublasComputeType_t of GemmEx
	version int
	stream  cu.Stream
	lt      unsafe.Pointer
	ltAlgos map[ltKey]C.baton_lt_algo // the heuristic's choice per shape, storage, epilogue and alignment
	ltCalls int                       // cuBLASLt matmuls run (for tests: the fused path was taken)
}

// ltKey is what a cuBLASLt algorithm is chosen for.
type ltKey struct {
	ta, tb, m, n, k, lda, ldb, ldc, dtype, epi int
	aligns                                     [3]int
}

// newCublasHandle creates a handle in the current context (the caller's), bound to
// stream, in prec's math mode.
func newCublasHandle(stream cu.Stream, prec kernels.Precision) (*cublasHandle, error) {
	if err := loadCublas(); err != nil {
		return nil, err
	}
	c := &cublasHandle{compute: cublasCompute32F, stream: stream}
	if err := cublasCheck("cublasCreate_v2", C.baton_cublas_new(&c.h)); err != nil {
		// Most often a cuBLAS of another CUDA version than the driver's
		// (a system's libcublas.so.11 found first): name the one loaded.
		return nil, &LibraryError{fmt.Sprintf("cuBLAS (%s) does not start: %v; set BATON_CUBLAS to the cuBLAS of this driver's CUDA version", cublasLib.name, err)}
	}
	if cublasLib.ltErr == nil {
		if err := cublasCheck("cublasLtCreate", C.baton_lt_new(&c.lt)); err != nil {
			C.baton_cublas_free(c.h)
			return nil, fmt.Errorf("cuda: %w", err)
		}
		c.ltAlgos = map[ltKey]C.baton_lt_algo{}
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
		if c.lt != nil {
			C.baton_lt_free(c.lt)
		}
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
	if c.lt != nil {
		if e := cublasCheck("cublasLtDestroy", C.baton_lt_free(c.lt)); err == nil {
			err = e
		}
		c.lt = nil
	}
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
		C.ulonglong(a), C.int(lda), C.ulonglong(b), C.int(ldb), C.float(beta), C.ulonglong(cp), C.int(ldc),
		cudaR32F, c.compute))
}

// gemmBF16 is gemm on bf16 A, B and C (CUDA_R_16BF): cublasGemmEx with
// CUBLAS_COMPUTE_32F (float32 accumulation, float32 alpha and beta), whatever the
// handle's precision. cuBLAS runs it on tensor cores in the default math mode.
func (c *cublasHandle) gemmBF16(transA, transB bool, m, n, k int, alpha float32, a cu.DevicePtr, lda int,
	b cu.DevicePtr, ldb int, beta float32, cp cu.DevicePtr, ldc int) error {
	ta, tb := cublasOp(transA), cublasOp(transB)
	return cublasCheck("cublasGemmEx(bf16)", C.baton_gemmex(c.h, ta, tb, C.int(m), C.int(n), C.int(k), C.float(alpha),
		C.ulonglong(a), C.int(lda), C.ulonglong(b), C.int(ldb), C.float(beta), C.ulonglong(cp), C.int(ldc),
		cudaR16BF, cublasCompute32F))
}

// cuBLASLt epilogues (cublasLtEpilogue_t).
const (
	ltEpilogueBias        = 4   // CUBLASLT_EPILOGUE_BIAS
	ltEpilogueGeluAuxBias = 160 // CUBLASLT_EPILOGUE_GELU_AUX_BIAS
	ltEpilogueDGelu       = 192 // CUBLASLT_EPILOGUE_DGELU
)

// errNoLtAlgo: cuBLASLt has no algorithm for the operands (the caller runs unfused).
var errNoLtAlgo = fmt.Errorf("cuBLASLt: no algorithm for these operands")

// ltMatmul is the column-major C = epilogue(alpha op(A) op(B) + beta C) of cuBLASLt on
// storage dtype (cudaR32F or cudaR16BF) with CUBLAS_COMPUTE_32F: epi ltEpilogueBias adds
// bias (m elements of dtype) to every column; ltEpilogueGeluAuxBias also stores the
// sum before GELU in aux (ld auxld), then applies GELU (tanh form); ltEpilogueDGelu
// multiplies the product by GELU' of aux (an input, ld auxld), bias unused. ws is workspace of
// wsBytes. It returns errNoLtAlgo (wrapped) when cuBLASLt is absent or has no
// algorithm for these operands: the caller then runs the unfused ops.
func (c *cublasHandle) ltMatmul(transA, transB bool, m, n, k int, alpha float32, a cu.DevicePtr, lda int,
	b cu.DevicePtr, ldb int, beta float32, cp cu.DevicePtr, ldc int, dtype, epi int, bias, aux cu.DevicePtr, auxld int,
	ws cu.DevicePtr, wsBytes int) error {
	if c.lt == nil {
		return fmt.Errorf("%w (%v)", errNoLtAlgo, cublasLib.ltErr)
	}
	ta, tb := cublasOp(transA), cublasOp(transB)
	key := ltKey{int(ta), int(tb), m, n, k, lda, ldb, ldc, dtype, epi,
		[3]int{int(C.baton_align(C.ulonglong(a))), int(C.baton_align(C.ulonglong(b))), int(C.baton_align(C.ulonglong(cp)))}}
	algo, ok := c.ltAlgos[key]
	have := C.int(0)
	if ok {
		have = 1
	}
	var stage C.int
	st := C.baton_lt_matmul(c.lt, ta, tb, C.int(m), C.int(n), C.int(k), C.float(alpha), C.ulonglong(a), C.int(lda),
		C.ulonglong(b), C.int(ldb), C.float(beta), C.ulonglong(cp), C.int(ldc), C.int(dtype), C.int(epi),
		C.ulonglong(bias), C.ulonglong(aux), C.longlong(auxld), C.ulonglong(ws), C.size_t(wsBytes),
		unsafe.Pointer(c.stream.C()), &algo, &have, &stage)
	if st == 15 { // CUBLAS_STATUS_NOT_SUPPORTED: nothing ran
		return fmt.Errorf("%w (%v)", errNoLtAlgo, cublasStatus(st))
	}
	steps := [...]string{"", "cublasLtMatmulDescCreate", "cublasLtMatmulDescSetAttribute", "cublasLtMatrixLayoutCreate",
		"cublasLtMatmulPreference", "cublasLtMatmulAlgoGetHeuristic", "cublasLtMatmul"}
	if err := cublasCheck(steps[stage], st); err != nil {
		return err
	}
	if have != 0 && !ok {
		c.ltAlgos[key] = algo
	}
	c.ltCalls++
	return nil
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
		return wrapUnlessLibrary(err, "cuda: PrimeCublas(%v): %w", ctx, err)
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

// LibraryError is a library baton loads at run time (cuBLAS) that is
// missing, or not one it can use: the user's to fix, said in words without
// the calls it surfaced through, which wrapUnlessLibrary keeps out.
type LibraryError struct{ msg string }

func (e *LibraryError) Error() string { return e.msg }

// wrapUnlessLibrary is fmt.Errorf(format, args...), or err itself where it
// is a *LibraryError.
func wrapUnlessLibrary(err error, format string, args ...any) error {
	var le *LibraryError
	if errors.As(err, &le) {
		return le
	}
	return fmt.Errorf(format, args...)
}
