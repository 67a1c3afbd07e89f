//go:build cuda

// Green contexts (SM partitions of one GPU), which gorgonia.org/cu lacks: the CUDA 12.4 entry points, declared by hand and resolved at run time.

package cuda

/*
#cgo LDFLAGS: -ldl
#include <cuda.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

// Not in cu, nor in CUDA 11.8's cuda.h, which cu and baton build against:
// green contexts came with CUDA 12.4. So the types are declared here and the
// entry points resolved with cuGetProcAddress(name, &fn, 12040, 0): whatever
// newer driver is installed then hands out the functions that take these
// 12.4 layouts.
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
static CUresult (*bt_pGreenGetResource)(bt_greenCtx, bt_devResource*, int);

// bt_greenOpen resolves the entry points; it returns NULL, or the name of
// the first one this driver lacks.
static const char* bt_greenOpen(void) {
	typedef CUresult (*getProc)(const char*, void**, int, cuuint64_t);
	void* lib = dlopen("libcuda.so.1", RTLD_NOW);
	if (!lib) return "libcuda.so.1";
	getProc gp = (getProc)dlsym(lib, "cuGetProcAddress");
	if (!gp) return "cuGetProcAddress";
	const char* names[] = {"cuDeviceGetDevResource", "cuDevSmResourceSplitByCount", "cuDevResourceGenerateDesc",
		"cuGreenCtxCreate", "cuCtxFromGreenCtx", "cuGreenCtxDestroy", "cuGreenCtxGetDevResource"};
	void** slots[] = {(void**)&bt_pGetDevResource, (void**)&bt_pSplitByCount, (void**)&bt_pGenerateDesc,
		(void**)&bt_pGreenCreate, (void**)&bt_pCtxFromGreen, (void**)&bt_pGreenDestroy, (void**)&bt_pGreenGetResource};
	for (int i = 0; i < 7; i++) {
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

// bt_greenCreate makes a green context holding the n groups from g on (of
// one split: the driver combines no others), sets *sms to the SMs the
// driver says it holds, and pushes the CUcontext that stands for it on the
// calling thread: the caller pops it with cu.PopCurrentCtx, which is how the
// handle reaches Go as cu's own type (cu makes a CUContext from no C handle
// of ours). Flag 1 is CU_GREEN_CTX_DEFAULT_STREAM, which 12.4 requires.
static CUresult bt_greenCreate(CUdevice d, bt_devResource* g, unsigned int n, bt_greenCtx* green, unsigned int* sms) {
	bt_resourceDesc desc;
	bt_devResource held;
	CUcontext ctx;
	CUresult r = bt_pGenerateDesc(&desc, g, n);
	if (r != CUDA_SUCCESS) return r;
	r = bt_pGreenCreate(green, desc, d, 1);
	if (r != CUDA_SUCCESS) return r;
	memset(&held, 0, sizeof held);
	r = bt_pGreenGetResource(*green, &held, 1);
	*sms = held.u.sm.smCount;
	if (r == CUDA_SUCCESS) r = bt_pCtxFromGreen(&ctx, *green);
	if (r == CUDA_SUCCESS) r = cuCtxPushCurrent(ctx);
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
	"fmt"
	goruntime "runtime"
	"sync"

	"gorgonia.org/cu"
)

// greenCtx is a green context: the SM group a partition's context stands for.
type greenCtx = C.bt_greenCtx

// checkC turns a CUresult of the shim into an error naming op.
func checkC(op string, r C.CUresult) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	return &DriverError{Op: op, Code: int(r)}
}

// green is the green-context API, resolved once.
var green struct {
	once sync.Once
	err  error // why green contexts are unavailable
}

// greenAvailable resolves the green-context entry points.
func greenAvailable() error {
	green.once.Do(func() {
		if missing := C.bt_greenOpen(); missing != nil {
			green.err = fmt.Errorf("the driver (%s) has no %s at the CUDA 12.4 ABI; green contexts need driver 12.4 or newer", driverVersion(), C.GoString(missing))
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
func splitSMs(d cu.Device, n, minCount int) (smSplit, error) {
	size := int(C.bt_devResourceSize())
	groups := C.malloc(C.size_t(size * n))
	defer C.free(groups)
	sms := make([]C.uint, n)
	nb, rest := C.uint(n), C.uint(0)
	r := C.bt_split(C.CUdevice(d), C.uint(minCount), (*C.bt_devResource)(groups), &nb, &sms[0], &rest)
	if err := checkC(fmt.Sprintf("cuDevSmResourceSplitByCount(minCount %d)", minCount), r); err != nil {
		return smSplit{}, err
	}
	s := smSplit{groups: C.GoBytes(groups, C.int(size*int(nb))), rest: int(rest)}
	for i := range int(nb) {
		s.sms = append(s.sms, int(sms[i]))
	}
	return s, nil
}

// greenCreate makes a green context of the n groups of s from group i on,
// and its CUcontext; sms are the SMs the driver says the context holds.
func greenCreate(d cu.Device, s smSplit, i, n int) (gc greenCtx, ctx cu.CUContext, sms int, err error) {
	size := int(C.bt_devResourceSize())
	g := C.CBytes(s.groups[i*size : (i+n)*size])
	defer C.free(g)
	goruntime.LockOSThread() // the context is pushed on this thread until popped
	defer goruntime.UnlockOSThread()
	var held C.uint
	if err := checkC("cuGreenCtxCreate", C.bt_greenCreate(C.CUdevice(d), (*C.bt_devResource)(g), C.uint(n), &gc, &held)); err != nil {
		return nil, cu.CUContext{}, 0, err
	}
	if ctx, err = cu.PopCurrentCtx(); err != nil {
		C.bt_greenDestroy(gc)
		return nil, cu.CUContext{}, 0, check("cuCtxPopCurrent", err)
	}
	return gc, ctx, int(held), nil
}

func greenDestroy(g greenCtx) error { return checkC("cuGreenCtxDestroy", C.bt_greenDestroy(g)) }
