//go:build cuda

// NCCL: libnccl.so.2 loaded at run time with dlopen (never linked), its version, unique ids and result codes.
//
// Why dlopen, as for cuBLAS: the CUDA binary must start where NCCL is not
// installed (a single-GPU run never needs it), and NCCL's C API for the calls
// used here (ncclGetVersion, ncclGetUniqueId, ncclCommInitRank,
// ncclCommDestroy, ncclCommAbort, ncclCommGetAsyncError, ncclSend, ncclRecv,
// ncclGroupStart, ncclGroupEnd, ncclGetErrorString) is the same in every 2.x
// since 2.7, so it is declared here by hand. The library is $BATON_NCCL if
// set, else libnccl.so.2 on the loader's path.

package cuda

/*
#cgo LDFLAGS: -ldl
#include <cuda.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char internal[128]; } bt_ncclUniqueId;

// The entry points of one loaded NCCL.
typedef struct {
	void* lib;
	int (*getVersion)(int*);
	int (*getUniqueId)(bt_ncclUniqueId*);
	int (*commInitRank)(void**, int, bt_ncclUniqueId, int);
	int (*commDestroy)(void*);
	int (*commAbort)(void*);
	int (*commGetAsyncError)(void*, int*);
	int (*send)(const void*, size_t, int, int, void*, CUstream);
	int (*recv)(void*, size_t, int, int, void*, CUstream);
	int (*groupStart)(void);
	int (*groupEnd)(void);
	const char* (*getErrorString)(int);
} bt_nccl;

// bt_nccl_open loads NCCL from path and resolves every entry point into a
// new bt_nccl. NULL: err holds dlerror's message (*missing set when the
// library itself was not found) or names the missing symbol.
static bt_nccl* bt_nccl_open(const char* path, char* err, int errlen, int* missing) {
	*missing = 0;
	void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		const char* e = dlerror();
		snprintf(err, errlen, "%s", e ? e : "unknown error");
		*missing = 1;
		return NULL;
	}
	bt_nccl* n = calloc(1, sizeof *n);
	n->lib = lib;
#define BT_SYM(var, sym) \
	*(void**)(&n->var) = dlsym(lib, sym); \
	if (!n->var) { snprintf(err, errlen, "%s has no %s", path, sym); dlclose(lib); free(n); return NULL; }
	BT_SYM(getVersion, "ncclGetVersion")
	BT_SYM(getUniqueId, "ncclGetUniqueId")
	BT_SYM(commInitRank, "ncclCommInitRank")
	BT_SYM(commDestroy, "ncclCommDestroy")
	BT_SYM(commAbort, "ncclCommAbort")
	BT_SYM(commGetAsyncError, "ncclCommGetAsyncError")
	BT_SYM(send, "ncclSend")
	BT_SYM(recv, "ncclRecv")
	BT_SYM(groupStart, "ncclGroupStart")
	BT_SYM(groupEnd, "ncclGroupEnd")
	BT_SYM(getErrorString, "ncclGetErrorString")
#undef BT_SYM
	return n;
}

static int bt_nccl_version(bt_nccl* n, int* v) { return n->getVersion(v); }
static int bt_nccl_unique_id(bt_nccl* n, bt_ncclUniqueId* id) { return n->getUniqueId(id); }
static int bt_nccl_init(bt_nccl* n, void** comm, int world, bt_ncclUniqueId* id, int rank) {
	return n->commInitRank(comm, world, *id, rank);
}
static int bt_nccl_destroy(bt_nccl* n, void* comm) { return n->commDestroy(comm); }
static int bt_nccl_abort(bt_nccl* n, void* comm) { return n->commAbort(comm); }
static int bt_nccl_async_error(bt_nccl* n, void* comm, int* r) { return n->commGetAsyncError(comm, r); }
static int bt_nccl_send(bt_nccl* n, unsigned long long buf, size_t count, int type, int peer, void* comm, CUstream s) {
	return n->send((const void*)buf, count, type, peer, comm, s);
}
static int bt_nccl_recv(bt_nccl* n, unsigned long long buf, size_t count, int type, int peer, void* comm, CUstream s) {
	return n->recv((void*)buf, count, type, peer, comm, s);
}
static int bt_nccl_group_start(bt_nccl* n) { return n->groupStart(); }
static int bt_nccl_group_end(bt_nccl* n) { return n->groupEnd(); }
static const char* bt_nccl_error_string(bt_nccl* n, int r) { return n->getErrorString(r); }
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"gorgonia.org/cu"
)

// ErrNCCLMissing matches (errors.Is) the error of every NCCL call where the
// library cannot be loaded: a run that needs NCCL cannot go on, a test skips.
var ErrNCCLMissing = errors.New("NCCL library not found")

// ncclLoadError is why NCCL could not be loaded.
type ncclLoadError struct {
	msg     string
	missing bool // the library was not found, rather than found incomplete
}

func (e *ncclLoadError) Error() string        { return e.msg }
func (e *ncclLoadError) Is(target error) bool { return e.missing && target == ErrNCCLMissing }

// ncclLib is one loaded NCCL.
type ncclLib struct {
	fns  *C.bt_nccl
	name string
}

// ncclLibs are the libraries loaded so far, by the name dlopen was given:
// BATON_NCCL may name another one later in a process (a test does).
var ncclLibs struct {
	sync.Mutex
	m map[string]*ncclLib
}

// loadNCCL loads the NCCL that BATON_NCCL names, or libnccl.so.2, once per
// name. A library that is not found is tried again on the next call.
func loadNCCL() (*ncclLib, error) {
	name, fromEnv := os.Getenv("BATON_NCCL"), true
	if name == "" {
		name, fromEnv = "libnccl.so.2", false
	}
	ncclLibs.Lock()
	defer ncclLibs.Unlock()
	if l := ncclLibs.m[name]; l != nil {
		return l, nil
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var msg [1024]C.char
	var missing C.int
	fns := C.bt_nccl_open(cname, &msg[0], C.int(len(msg)), &missing)
	if fns == nil {
		if missing == 0 {
			return nil, &ncclLoadError{msg: "NCCL: " + C.GoString(&msg[0]) + "; install NCCL 2.x or set BATON_NCCL to its path"}
		}
		what := name
		if fromEnv {
			what += " (BATON_NCCL)"
		}
		return nil, &ncclLoadError{missing: true, msg: fmt.Sprintf("NCCL: %s not found (dlopen: %s); install NCCL 2.x or set BATON_NCCL to its path",
			what, C.GoString(&msg[0]))}
	}
	l := &ncclLib{fns: fns, name: name}
	if ncclLibs.m == nil {
		ncclLibs.m = map[string]*ncclLib{}
	}
	ncclLibs.m[name] = l
	return l, nil
}

// ncclResultNames are ncclResult_t's names, the same in every 2.x.
var ncclResultNames = map[int]string{
	0: "ncclSuccess",
	1: "ncclUnhandledCudaError",
	2: "ncclSystemError",
	3: "ncclInternalError",
	4: "ncclInvalidArgument",
	5: "ncclInvalidUsage",
	6: "ncclRemoteError",
	7: "ncclInProgress",
}

// NCCLError is a failed NCCL call, or an error NCCL met later while running
// the operations it had accepted (an asynchronous error: Op then names the
// communicator's latest operations).
type NCCLError struct {
	Op   string // the call and what it was doing: "ncclRecv of 1024 floats from rank 1"
	Code int    // ncclResult_t
	Msg  string // NCCL's description of Code
}

func (e *NCCLError) Error() string {
	name, ok := ncclResultNames[e.Code]
	if !ok {
		name = fmt.Sprintf("ncclResult %d", e.Code)
	}
	return fmt.Sprintf("NCCL: %s: %s (%s)", e.Op, e.Msg, name)
}

// check turns the result of an NCCL call into an error naming op (nil on success).
func (l *ncclLib) check(op string, r C.int) error {
	if r == 0 {
		return nil
	}
	return &NCCLError{Op: op, Code: int(r), Msg: l.errorText(int(r))}
}

// NCCLVersion is the version of the NCCL that BATON_NCCL or libnccl.so.2
// names, and the library: "2.28.3 (libnccl.so.2)".
func NCCLVersion() (string, error) {
	l, err := loadNCCL()
	if err != nil {
		return "", err
	}
	var v C.int
	if err := l.check("ncclGetVersion", C.bt_nccl_version(l.fns, &v)); err != nil {
		return "", err
	}
	// NCCL_VERSION_CODE: major*10000 + minor*100 + patch since 2.9; major*1000 + minor*100 + patch before.
	major, minor, patch := int(v)/10000, int(v)/100%100, int(v)%100
	if v < 10000 {
		major, minor, patch = int(v)/1000, int(v)%1000/100, int(v)%100
	}
	return fmt.Sprintf("%d.%d.%d (%s)", major, minor, patch, l.name), nil
}

// NCCLID names one communicator to all of its ranks: rank 0 makes it with
// NewNCCLID and the others get it from rank 0 (the runtime shares it through
// its store). It is opaque: 128 bytes, as ncclUniqueId.
type NCCLID [128]byte

// NewNCCLID makes a unique id for a new communicator (ncclGetUniqueId).
func NewNCCLID() (NCCLID, error) {
	var id NCCLID
	l, err := loadNCCL()
	if err != nil {
		return id, err
	}
	var cid C.bt_ncclUniqueId
	if err := l.check("ncclGetUniqueId", C.bt_nccl_unique_id(l.fns, &cid)); err != nil {
		return id, err
	}
	copy(id[:], C.GoBytes(unsafe.Pointer(&cid), C.int(len(id))))
	return id, nil
}

// initRank joins the communicator id names as rank of world (ncclCommInitRank),
// on the CUDA context current on the calling thread; it returns once every
// rank has joined.
func (l *ncclLib) initRank(id NCCLID, world, rank int) (unsafe.Pointer, error) {
	var cid C.bt_ncclUniqueId
	C.memcpy(unsafe.Pointer(&cid), unsafe.Pointer(&id[0]), C.size_t(len(id)))
	var comm unsafe.Pointer
	err := l.check(fmt.Sprintf("ncclCommInitRank(rank %d of %d)", rank, world),
		C.bt_nccl_init(l.fns, &comm, C.int(world), &cid, C.int(rank)))
	return comm, err
}

func (l *ncclLib) destroy(comm unsafe.Pointer) error {
	return l.check("ncclCommDestroy", C.bt_nccl_destroy(l.fns, comm))
}

func (l *ncclLib) abort(comm unsafe.Pointer) error {
	return l.check("ncclCommAbort", C.bt_nccl_abort(l.fns, comm))
}

// asyncError is the communicator's asynchronous error code (0: none).
func (l *ncclLib) asyncError(comm unsafe.Pointer) (int, error) {
	var r C.int
	err := l.check("ncclCommGetAsyncError", C.bt_nccl_async_error(l.fns, comm, &r))
	return int(r), err
}

// NCCL's datatypes baton moves (ncclDataType_t; bfloat16 since NCCL 2.10).
const (
	ncclFloat32  = 7
	ncclBfloat16 = 9
)

// post enqueues ncclSend (send) or ncclRecv of count elements of datatype
// at buf on stream; op names it in the error.
func (l *ncclLib) post(op string, send bool, buf cu.DevicePtr, count int64, datatype int, peer int, comm unsafe.Pointer, stream cu.Stream) error {
	s := C.CUstream(unsafe.Pointer(stream.C()))
	if send {
		return l.check(op, C.bt_nccl_send(l.fns, C.ulonglong(buf), C.size_t(count), C.int(datatype), C.int(peer), comm, s))
	}
	return l.check(op, C.bt_nccl_recv(l.fns, C.ulonglong(buf), C.size_t(count), C.int(datatype), C.int(peer), comm, s))
}

func (l *ncclLib) groupStart() error { return l.check("ncclGroupStart", C.bt_nccl_group_start(l.fns)) }
func (l *ncclLib) groupEnd() error   { return l.check("ncclGroupEnd", C.bt_nccl_group_end(l.fns)) }

// errorText is NCCL's description of a result code.
func (l *ncclLib) errorText(code int) string {
	return C.GoString(C.bt_nccl_error_string(l.fns, C.int(code)))
}
