//go:build cuda

// The CUDA driver calls the CUDA devices make, each checked where it is made, and the green-context entry points of the CUDA 12.4 ABI, declared by hand.

package cuda

/*
#cgo LDFLAGS: -lcuda -ldl
#include <cuda.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

// Wrappers, so that cgo never has to call through cuda.h's macros
// (cuEventDestroy → cuEventDestroy_v2 and the like).
static CUresult bt_init(void) { return cuInit(0); }
static CUresult bt_driverVersion(int* v) { return cuDriverGetVersion(v); }
static CUresult bt_deviceCount(int* n) { return cuDeviceGetCount(n); }
static CUresult bt_deviceGet(CUdevice* d, int i) { return cuDeviceGet(d, i); }
static CUresult bt_deviceName(char* name, int len, CUdevice d) { return cuDeviceGetName(name, len, d); }
static CUresult bt_deviceAttr(int* v, int attr, CUdevice d) { return cuDeviceGetAttribute(v, (CUdevice_attribute)attr, d); }
static CUresult bt_deviceTotalMem(size_t* b, CUdevice d) { return cuDeviceTotalMem(b, d); }
static CUresult bt_canAccessPeer(int* can, CUdevice d, CUdevice peer) { return cuDeviceCanAccessPeer(can, d, peer); }
static int bt_attrSMs(void) { return CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT; }
static int bt_attrMajor(void) { return CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR; }
static int bt_attrMinor(void) { return CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR; }

static CUresult bt_primaryRetain(CUcontext* c, CUdevice d) { return cuDevicePrimaryCtxRetain(c, d); }
static CUresult bt_primaryRelease(CUdevice d) { return cuDevicePrimaryCtxRelease(d); }
// bt_ctxCreate makes a plain context and leaves the caller's current context as it was.
static CUresult bt_ctxCreate(CUcontext* c, CUdevice d) {
	CUresult r = cuCtxCreate(c, CU_CTX_SCHED_AUTO, d);
	if (r != CUDA_SUCCESS) return r;
	CUcontext popped;
	return cuCtxPopCurrent(&popped);
}
static CUresult bt_ctxDestroy(CUcontext c) { return cuCtxDestroy(c); }
static CUresult bt_ctxGetCurrent(CUcontext* c) { return cuCtxGetCurrent(c); }
static CUresult bt_ctxSetCurrent(CUcontext c) { return cuCtxSetCurrent(c); }
static CUresult bt_ctxEnablePeer(CUcontext peer) { return cuCtxEnablePeerAccess(peer, 0); }
static CUresult bt_memGetInfo(size_t* free, size_t* total) { return cuMemGetInfo(free, total); }

static CUresult bt_streamCreate(CUstream* s) { return cuStreamCreate(s, CU_STREAM_NON_BLOCKING); }
static CUresult bt_streamDestroy(CUstream s) { return cuStreamDestroy(s); }
static CUresult bt_streamSync(CUstream s) { return cuStreamSynchronize(s); }
static CUresult bt_streamWait(CUstream s, CUevent e) { return cuStreamWaitEvent(s, e, 0); }

static CUresult bt_eventCreate(CUevent* e) { return cuEventCreate(e, CU_EVENT_DEFAULT); }
static CUresult bt_eventDestroy(CUevent e) { return cuEventDestroy(e); }
static CUresult bt_eventRecord(CUevent e, CUstream s) { return cuEventRecord(e, s); }
static CUresult bt_eventSync(CUevent e) { return cuEventSynchronize(e); }
static CUresult bt_eventElapsed(float* ms, CUevent a, CUevent b) { return cuEventElapsedTime(ms, a, b); }

static CUresult bt_copyDtoD(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) { return cuMemcpyDtoDAsync(dst, src, n, s); }
static CUresult bt_copyPeer(CUdeviceptr dst, CUcontext dctx, CUdeviceptr src, CUcontext sctx, size_t n, CUstream s) {
	return cuMemcpyPeerAsync(dst, dctx, src, sctx, n, s);
}
static CUresult bt_copyDtoH(void* dst, CUdeviceptr src, size_t n, CUstream s) { return cuMemcpyDtoHAsync(dst, src, n, s); }
static CUresult bt_copyHtoD(CUdeviceptr dst, const void* src, size_t n, CUstream s) { return cuMemcpyHtoDAsync(dst, src, n, s); }
static CUresult bt_hostAlloc(void** p, size_t n) { return cuMemHostAlloc(p, n, CU_MEMHOSTALLOC_PORTABLE); }
static CUresult bt_hostFree(void* p) { return cuMemFreeHost(p); }
static CUresult bt_memAlloc(CUdeviceptr* p, size_t n) { return cuMemAlloc(p, n); }
static CUresult bt_memFree(CUdeviceptr p) { return cuMemFree(p); }

static const char* bt_errName(CUresult r) { const char* s = 0; if (cuGetErrorName(r, &s) != CUDA_SUCCESS) return 0; return s; }
static const char* bt_errString(CUresult r) { const char* s = 0; if (cuGetErrorString(r, &s) != CUDA_SUCCESS) return 0; return s; }

// Green contexts, CUDA 12.4 ABI. CUDA 11.8's cuda.h has none of this, so the
// types are declared here and the entry points resolved at run time with
// cuGetProcAddress(name, &fn, 12040, 0): whatever newer driver is installed
// then hands out the functions that take these 12.4 layouts.
typedef struct {
	unsigned int smCount;
} bt_smResource;
typedef struct {
	int type;                          // CUdevResourceType; 1 = CU_DEV_RESOURCE_TYPE_SM
	unsigned char internalPadding[92];
	union {
		bt_smResource sm;
		unsigned char oversize[48];    // RESOURCE_ABI_BYTES
	} u;
} bt_devResource;                      // CUdevResource_v1: 144 bytes
typedef char bt_devResourceIs144[sizeof(bt_devResource) == 144 ? 1 : -1];
typedef void* bt_resourceDesc;
typedef void* bt_greenCtx;

static CUresult (*bt_pGetDevResource)(CUdevice, bt_devResource*, int);
static CUresult (*bt_pSplitByCount)(bt_devResource*, unsigned int*, const bt_devResource*, bt_devResource*, unsigned int, unsigned int);
static CUresult (*bt_pGenerateDesc)(bt_resourceDesc*, bt_devResource*, unsigned int);
static CUresult (*bt_pGreenCreate)(bt_greenCtx*, bt_resourceDesc, CUdevice, unsigned int);
static CUresult (*bt_pCtxFromGreen)(CUcontext*, bt_greenCtx);
static CUresult (*bt_pGreenDestroy)(bt_greenCtx);

// bt_greenOpen resolves the entry points; it returns NULL, or the name of
// the first one this driver lacks.
static const char* bt_greenOpen(void) {
	typedef CUresult (*getProc)(const char*, void**, int, cuuint64_t);
	void* lib = dlopen("libcuda.so.1", RTLD_NOW);
	if (!lib) return "libcuda.so.1";
	getProc gp = (getProc)dlsym(lib, "cuGetProcAddress");
	if (!gp) return "cuGetProcAddress";
	const char* names[] = {"cuDeviceGetDevResource", "cuDevSmResourceSplitByCount", "cuDevResourceGenerateDesc",
		"cuGreenCtxCreate", "cuCtxFromGreenCtx", "cuGreenCtxDestroy"};
	void** slots[] = {(void**)&bt_pGetDevResource, (void**)&bt_pSplitByCount, (void**)&bt_pGenerateDesc,
		(void**)&bt_pGreenCreate, (void**)&bt_pCtxFromGreen, (void**)&bt_pGreenDestroy};
	for (int i = 0; i < 6; i++) {
		void* f = 0;
		if (gp(names[i], &f, 12040, 0) != CUDA_SUCCESS || !f) return names[i];
		*slots[i] = f;
	}
	return 0;
}

// bt_split splits the device's SMs into at most *nb groups of minCount SMs
// (the driver rounds minCount up to its granularity); it sets *nb to the
// groups made, sms[i] to their sizes and *rest to the SMs left over. groups
// must hold *nb entries. Nothing is created: the groups are descriptions.
static CUresult bt_split(CUdevice d, unsigned int minCount, bt_devResource* groups, unsigned int* nb, unsigned int* sms, unsigned int* rest) {
	bt_devResource all, remaining;
	memset(&all, 0, sizeof all);
	memset(&remaining, 0, sizeof remaining);
	CUresult r = bt_pGetDevResource(d, &all, 1);
	if (r != CUDA_SUCCESS) return r;
	memset(groups, 0, sizeof(bt_devResource) * *nb);
	r = bt_pSplitByCount(groups, nb, &all, &remaining, 0, minCount);
	if (r != CUDA_SUCCESS) return r;
	for (unsigned int i = 0; i < *nb; i++) sms[i] = groups[i].u.sm.smCount;
	*rest = remaining.u.sm.smCount;
	return CUDA_SUCCESS;
}

// bt_greenCreate makes a green context holding group g and the CUcontext
// that stands for it. Flag 1 is CU_GREEN_CTX_DEFAULT_STREAM, which 12.4 requires.
static CUresult bt_greenCreate(CUdevice d, bt_devResource* g, bt_greenCtx* green, CUcontext* ctx) {
	bt_resourceDesc desc;
	CUresult r = bt_pGenerateDesc(&desc, g, 1);
	if (r != CUDA_SUCCESS) return r;
	r = bt_pGreenCreate(green, desc, d, 1);
	if (r != CUDA_SUCCESS) return r;
	r = bt_pCtxFromGreen(ctx, *green);
	if (r != CUDA_SUCCESS) {
		bt_pGreenDestroy(*green);
		*green = 0;
	}
	return r;
}
static CUresult bt_greenDestroy(bt_greenCtx g) { return bt_pGreenDestroy(g); }
static size_t bt_devResourceSize(void) { return sizeof(bt_devResource); }
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"
)

// CUDA handles, as the rest of the cuda build names them.
type (
	cuContext = C.CUcontext
	cuStream  = C.CUstream
	cuEvent   = C.CUevent
	cuDevice  = C.CUdevice
	cuPtr     = C.CUdeviceptr
	cuResult  = C.CUresult
	greenCtx  = C.bt_greenCtx
)

// DriverError is a failed CUDA driver call.
type DriverError struct {
	Op   string // the call, with what it was doing
	Code int    // CUresult
	Name string // "CUDA_ERROR_OUT_OF_MEMORY"
	Msg  string // the driver's description
}

func (e *DriverError) Error() string {
	return fmt.Sprintf("%s: %s (%s)", e.Op, e.Msg, e.Name)
}

// OutOfMemory reports whether the call failed for want of device memory.
func (e *DriverError) OutOfMemory() bool { return e.Code == int(C.CUDA_ERROR_OUT_OF_MEMORY) }

// check turns a CUresult into an error naming op.
func check(op string, r cuResult) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	e := &DriverError{Op: op, Code: int(r), Name: fmt.Sprintf("CUresult %d", int(r)), Msg: "unknown error"}
	if s := C.bt_errName(r); s != nil {
		e.Name = C.GoString(s)
	}
	if s := C.bt_errString(r); s != nil {
		e.Msg = C.GoString(s)
	}
	return e
}

// isNotReady reports a CUDA_ERROR_NOT_READY: work still in flight.
func isNotReady(err error) bool {
	var de *DriverError
	return errors.As(err, &de) && de.Code == int(C.CUDA_ERROR_NOT_READY)
}

// isPeerAlreadyEnabled reports a CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED.
func isPeerAlreadyEnabled(err error) bool {
	var de *DriverError
	return errors.As(err, &de) && de.Code == int(C.CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED)
}

var initOnce struct {
	sync.Once
	err error
}

// driverInit initialises the driver once (gorgonia.org/cu has done it too).
func driverInit() error {
	initOnce.Do(func() { initOnce.err = check("cuInit", C.bt_init()) })
	return initOnce.err
}

func driverVersion() (int, error) {
	var v C.int
	err := check("cuDriverGetVersion", C.bt_driverVersion(&v))
	return int(v), err
}

func deviceCount() (int, error) {
	if err := driverInit(); err != nil {
		return 0, err
	}
	var n C.int
	err := check("cuDeviceGetCount", C.bt_deviceCount(&n))
	return int(n), err
}

func deviceGet(i int) (cuDevice, error) {
	var d cuDevice
	err := check(fmt.Sprintf("cuDeviceGet(%d)", i), C.bt_deviceGet(&d, C.int(i)))
	return d, err
}

// gpuFacts are a GPU's fixed properties.
type gpuFacts struct {
	name         string
	major, minor int
	sms          int
	memory       int64
}

func deviceFacts(d cuDevice) (gpuFacts, error) {
	var f gpuFacts
	buf := make([]byte, 256)
	if err := check("cuDeviceGetName", C.bt_deviceName((*C.char)(unsafe.Pointer(&buf[0])), C.int(len(buf)), d)); err != nil {
		return f, err
	}
	f.name = C.GoString((*C.char)(unsafe.Pointer(&buf[0])))
	for _, a := range []struct {
		attr C.int
		dst  *int
	}{{C.bt_attrSMs(), &f.sms}, {C.bt_attrMajor(), &f.major}, {C.bt_attrMinor(), &f.minor}} {
		var v C.int
		if err := check("cuDeviceGetAttribute", C.bt_deviceAttr(&v, a.attr, d)); err != nil {
			return f, err
		}
		*a.dst = int(v)
	}
	var mem C.size_t
	if err := check("cuDeviceTotalMem", C.bt_deviceTotalMem(&mem, d)); err != nil {
		return f, err
	}
	f.memory = int64(mem)
	return f, nil
}

func canAccessPeer(d, peer cuDevice) (bool, error) {
	var can C.int
	err := check("cuDeviceCanAccessPeer", C.bt_canAccessPeer(&can, d, peer))
	return can != 0, err
}

func primaryRetain(d cuDevice) (cuContext, error) {
	var c cuContext
	err := check("cuDevicePrimaryCtxRetain", C.bt_primaryRetain(&c, d))
	return c, err
}

func primaryRelease(d cuDevice) error {
	return check("cuDevicePrimaryCtxRelease", C.bt_primaryRelease(d))
}

// ctxCreate makes a plain (non-primary) context; the caller's current
// context is left as it was.
func ctxCreate(d cuDevice) (cuContext, error) {
	var c cuContext
	err := check("cuCtxCreate", C.bt_ctxCreate(&c, d))
	return c, err
}

func ctxDestroy(c cuContext) error { return check("cuCtxDestroy", C.bt_ctxDestroy(c)) }

func ctxCurrent() cuContext {
	var c cuContext
	if C.bt_ctxGetCurrent(&c) != C.CUDA_SUCCESS {
		return nil
	}
	return c
}

func ctxSetCurrent(c cuContext) error { return check("cuCtxSetCurrent", C.bt_ctxSetCurrent(c)) }

// ctxEnablePeer lets the current context reach peer's memory.
func ctxEnablePeer(peer cuContext) error {
	err := check("cuCtxEnablePeerAccess", C.bt_ctxEnablePeer(peer))
	if isPeerAlreadyEnabled(err) {
		return nil
	}
	return err
}

// memInfo is the current context's GPU's free and total memory.
func memInfo() (free, total int64, err error) {
	var f, t C.size_t
	err = check("cuMemGetInfo", C.bt_memGetInfo(&f, &t))
	return int64(f), int64(t), err
}

func streamCreate() (cuStream, error) {
	var s cuStream
	err := check("cuStreamCreate", C.bt_streamCreate(&s))
	return s, err
}

func streamDestroy(s cuStream) error { return check("cuStreamDestroy", C.bt_streamDestroy(s)) }
func streamSync(s cuStream) error    { return check("cuStreamSynchronize", C.bt_streamSync(s)) }
func streamWait(s cuStream, e cuEvent) error {
	return check("cuStreamWaitEvent", C.bt_streamWait(s, e))
}

func eventCreate() (cuEvent, error) {
	var e cuEvent
	err := check("cuEventCreate", C.bt_eventCreate(&e))
	return e, err
}

func eventDestroy(e cuEvent) error { return check("cuEventDestroy", C.bt_eventDestroy(e)) }
func eventRecord(e cuEvent, s cuStream) error {
	return check("cuEventRecord", C.bt_eventRecord(e, s))
}
func eventSync(e cuEvent) error { return check("cuEventSynchronize", C.bt_eventSync(e)) }

// eventElapsed is the time from a to b in milliseconds (resolution about 0.5 µs).
func eventElapsed(a, b cuEvent) (float32, error) {
	var ms C.float
	err := check("cuEventElapsedTime", C.bt_eventElapsed(&ms, a, b))
	return float32(ms), err
}

func copyDtoD(dst, src cuPtr, n int64, s cuStream) error {
	return check("cuMemcpyDtoDAsync", C.bt_copyDtoD(dst, src, C.size_t(n), s))
}

func copyPeer(dst cuPtr, dctx cuContext, src cuPtr, sctx cuContext, n int64, s cuStream) error {
	return check("cuMemcpyPeerAsync", C.bt_copyPeer(dst, dctx, src, sctx, C.size_t(n), s))
}

func copyDtoH(dst unsafe.Pointer, src cuPtr, n int64, s cuStream) error {
	return check("cuMemcpyDtoHAsync", C.bt_copyDtoH(dst, src, C.size_t(n), s))
}

func copyHtoD(dst cuPtr, src unsafe.Pointer, n int64, s cuStream) error {
	return check("cuMemcpyHtoDAsync", C.bt_copyHtoD(dst, src, C.size_t(n), s))
}

// hostAlloc is pinned host memory usable from every context (portable).
func hostAlloc(n int64) (unsafe.Pointer, error) {
	var p unsafe.Pointer
	err := check(fmt.Sprintf("cuMemHostAlloc(%d bytes)", n), C.bt_hostAlloc(&p, C.size_t(n)))
	return p, err
}

func hostFree(p unsafe.Pointer) error { return check("cuMemFreeHost", C.bt_hostFree(p)) }

// memAlloc and memFree are raw device memory, for the tests' buffers.
func memAlloc(n int64) (cuPtr, error) {
	var p cuPtr
	err := check(fmt.Sprintf("cuMemAlloc(%d bytes)", n), C.bt_memAlloc(&p, C.size_t(n)))
	return p, err
}

func memFree(p cuPtr) error { return check("cuMemFree", C.bt_memFree(p)) }

// green is the green-context API, resolved once.
var green struct {
	once sync.Once
	err  error // why green contexts are unavailable
}

// greenAvailable resolves the green-context entry points.
func greenAvailable() error {
	green.once.Do(func() {
		if err := driverInit(); err != nil {
			green.err = err
			return
		}
		v, _ := driverVersion()
		if missing := C.bt_greenOpen(); missing != nil {
			green.err = fmt.Errorf("the driver (CUDA %d.%d) has no %s at the CUDA 12.4 ABI; green contexts need driver 12.4 or newer", v/1000, v%1000/10, C.GoString(missing))
		}
	})
	return green.err
}

// smSplit is a split of a GPU's SMs into groups (descriptions only).
type smSplit struct {
	groups []byte // nb CUdevResource_v1, as the driver wrote them
	sms    []int  // SMs per group
	rest   int    // SMs in no group
}

// splitSMs splits d's SMs into at most n groups of minCount SMs each.
func splitSMs(d cuDevice, n, minCount int) (smSplit, error) {
	size := int(C.bt_devResourceSize())
	groups := C.malloc(C.size_t(size * n))
	defer C.free(groups)
	sms := make([]C.uint, n)
	nb, rest := C.uint(n), C.uint(0)
	r := C.bt_split(d, C.uint(minCount), (*C.bt_devResource)(groups), &nb, &sms[0], &rest)
	if err := check(fmt.Sprintf("cuDevSmResourceSplitByCount(minCount %d)", minCount), r); err != nil {
		return smSplit{}, err
	}
	s := smSplit{groups: C.GoBytes(groups, C.int(size*int(nb))), rest: int(rest)}
	for i := range int(nb) {
		s.sms = append(s.sms, int(sms[i]))
	}
	return s, nil
}

// greenCreate makes a green context of group i of s and its CUcontext.
func greenCreate(d cuDevice, s smSplit, i int) (greenCtx, cuContext, error) {
	size := int(C.bt_devResourceSize())
	g := C.CBytes(s.groups[i*size : (i+1)*size])
	defer C.free(g)
	var gc greenCtx
	var c cuContext
	err := check("cuGreenCtxCreate", C.bt_greenCreate(d, (*C.bt_devResource)(g), &gc, &c))
	return gc, c, err
}

func greenDestroy(g greenCtx) error { return check("cuGreenCtxDestroy", C.bt_greenDestroy(g)) }
