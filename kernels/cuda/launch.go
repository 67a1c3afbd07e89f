//go:build cuda

// Launch: the driver-API glue of the backend: loading the embedded PTX modules into a
// context, the table of their kernels (with each one's parameter layout, read from the
// PTX), launching them on the Ops' stream, and the driver's error values.

package cuda

/*
#cgo CFLAGS: -I/usr/local/cuda/include
#cgo LDFLAGS: -L/usr/local/cuda/lib64 -L/usr/local/cuda/lib64/stubs -lcuda
#include <cuda.h>
#include <stdint.h>
#include <stdlib.h>

// baton_module_load JIT-compiles a PTX image into the current context; on failure the
// JIT's error log is left in log (NUL-terminated, at most logSize bytes).
static CUresult baton_module_load(CUmodule* mod, const char* image, char* log, unsigned int logSize) {
	CUjit_option opts[2] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
	void* vals[2] = {(void*)log, (void*)(uintptr_t)logSize};
	log[0] = 0;
	return cuModuleLoadDataEx(mod, image, 2, opts, vals);
}

// baton_launch launches f with parameter i at words + offs[i] (words of 8 bytes).
// The driver copies the parameters before cuLaunchKernel returns.
static CUresult baton_launch(CUfunction f, unsigned gx, unsigned gy, unsigned bx, unsigned by,
		unsigned shared, CUstream s, uint64_t* words, const uint8_t* offs, int n) {
	void* params[64];
	for (int i = 0; i < n; i++) params[i] = (void*)(words + offs[i]);
	return cuLaunchKernel(f, gx, gy, 1, bx, by, 1, shared, s, n ? params : NULL, NULL);
}

static const char* baton_error_name(CUresult r) {
	const char* s = 0;
	if (cuGetErrorName(r, &s) != CUDA_SUCCESS || !s) return "CUDA_ERROR_UNKNOWN_CODE";
	return s;
}

static const char* baton_error_string(CUresult r) {
	const char* s = 0;
	if (cuGetErrorString(r, &s) != CUDA_SUCCESS || !s) return "";
	return s;
}
*/
import "C"

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"
)

// cuErr is a CUresult returned by one of this package's own driver calls (the ones
// gorgonia.org/cu does not wrap the way the backend needs); its text is the driver's
// name and description, e.g. "CUDA_ERROR_INVALID_VALUE (invalid argument)".
type cuErr int

func (e cuErr) Error() string {
	r := C.CUresult(e)
	name := C.GoString(C.baton_error_name(r))
	if s := C.GoString(C.baton_error_string(r)); s != "" {
		return name + " (" + s + ")"
	}
	return name
}

// cuCheck turns a CUresult into an error (nil on success).
func cuCheck(r C.CUresult) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	return cuErr(r)
}

const (
	maxKernelParams  = 64  // baton_launch's array
	maxParamWords    = 256 // 2 KiB of parameters (the driver allows 4 KiB)
	defaultMaxShared = 48 << 10
)

// kernel is one `extern "C" __global__` entry of an embedded module, resolved in the
// Ops' context. Its parameter layout comes from the PTX's .entry declaration, so a launch
// copies exactly each parameter's size from the pointer the caller passed (no
// over-reads) and a wrong argument count panics before reaching the driver.
type kernel struct {
	name   string
	module string // e.g. "layernorm.ptx"
	fn     C.CUfunction
	sizes  []int        // bytes of each parameter, in order
	offs   []uint8      // each parameter's first 8-byte word in the launch buffer
	words  int          // 8-byte words all parameters take
	shared atomic.Int32 // dynamic shared memory the function is allowed so far (0: the 48 KiB default)
}

// ptxModule is a loaded module; kept to unload it in Close.
type ptxModule struct {
	name string
	mod  C.CUmodule
}

// loadModule JIT-compiles one PTX image into the current context (which must be o's)
// and adds its entries to o.kernels. It is called by New (and by tests, before any
// launch): o.kernels is not guarded, it is read-only once New has returned.
func (o *Ops) loadModule(name, ptx string) error {
	entries, err := parsePTXEntries(ptx)
	if err != nil {
		return fmt.Errorf("cuda: module %s: %w", name, err)
	}
	image := C.CString(ptx)
	defer C.free(unsafe.Pointer(image))
	const logSize = 16 << 10
	log := (*C.char)(C.malloc(logSize))
	defer C.free(unsafe.Pointer(log))
	var mod C.CUmodule
	if err := cuCheck(C.baton_module_load(&mod, image, log, logSize)); err != nil {
		if jit := strings.TrimSpace(C.GoString(log)); jit != "" {
			return fmt.Errorf("cuda: load module %s: %w\n%s", name, err, jit)
		}
		return fmt.Errorf("cuda: load module %s: %w", name, err)
	}
	o.modules = append(o.modules, ptxModule{name: name, mod: mod})
	for _, e := range entries {
		if prev, ok := o.kernels[e.name]; ok {
			return fmt.Errorf("cuda: kernel %s is defined in both %s and %s", e.name, prev.module, name)
		}
		cname := C.CString(e.name)
		var fn C.CUfunction
		err := cuCheck(C.cuModuleGetFunction(&fn, mod, cname))
		C.free(unsafe.Pointer(cname))
		if err != nil {
			return fmt.Errorf("cuda: module %s: kernel %s: %w", name, e.name, err)
		}
		k := &kernel{name: e.name, module: name, fn: fn, sizes: e.sizes}
		for _, sz := range e.sizes {
			k.offs = append(k.offs, uint8(k.words))
			k.words += (sz + 7) / 8
		}
		if len(k.sizes) > maxKernelParams || k.words > maxParamWords {
			return fmt.Errorf("cuda: module %s: kernel %s has %d parameters in %d bytes; at most %d in %d bytes are supported",
				name, e.name, len(k.sizes), 8*k.words, maxKernelParams, 8*maxParamWords)
		}
		o.kernels[e.name] = k
	}
	return nil
}

// unloadModules unloads every module (o's context current) and forgets the kernels.
func (o *Ops) unloadModules() error {
	var first error
	for _, m := range o.modules {
		if err := cuCheck(C.cuModuleUnload(m.mod)); err != nil && first == nil {
			first = fmt.Errorf("cuda: unload module %s: %w", m.name, err)
		}
	}
	o.modules = nil
	o.kernels = map[string]*kernel{}
	return first
}

// Kernels lists the names of the loaded kernels, sorted.
func (o *Ops) Kernels() []string {
	names := make([]string, 0, len(o.kernels))
	for n := range o.kernels {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// launch runs the extern "C" kernel on o's stream with a 1-D grid of grid blocks of
// block threads and shared bytes of dynamic shared memory. args holds one pointer per
// kernel parameter, to a Go value of the parameter's type: a cu.DevicePtr (or
// uintptr, uint64) for a pointer, int32 for int, uint32 for unsigned, float32 for
// float, int64 for long long, float64 for double. Exactly as many bytes as the PTX
// declares for each parameter are copied from it, before launch returns.
//
// It panics with fmt.Errorf("cuda: %s: launch %s: %w", op, kernel, err) when the kernel
// is not in the loaded PTX, when the argument count differs from the kernel's
// parameters, or when the driver refuses the launch; err names the grid. (Faults inside
// the kernel surface later, at the next synchronising call, as with any CUDA launch.)
func (o *Ops) launch(op, kernel string, grid, block, shared int, args ...unsafe.Pointer) {
	o.launch2(op, kernel, grid, 1, block, 1, shared, args...)
}

// launch2 is launch with a 2-D grid (gx, gy) of 2-D blocks (bx, by).
func (o *Ops) launch2(op, kernel string, gx, gy, bx, by, shared int, args ...unsafe.Pointer) {
	defer o.enter()()
	if err := o.launchErr(kernel, gx, gy, bx, by, shared, args); err != nil {
		panic(fmt.Errorf("cuda: %s: launch %s: %w", op, kernel, err))
	}
}

func (o *Ops) launchErr(name string, gx, gy, bx, by, shared int, args []unsafe.Pointer) error {
	k := o.kernels[name]
	if k == nil {
		return fmt.Errorf("no kernel %q in the embedded PTX (kernels/cuda/ptx: %d modules, kernels %s); rebuild with scripts/build-kernels.sh",
			name, len(o.modules), strings.Join(o.Kernels(), ", "))
	}
	if len(args) != len(k.sizes) {
		return fmt.Errorf("%d arguments for the %d parameters of %s (%s)", len(args), len(k.sizes), name, k.module)
	}
	if gx <= 0 || gy <= 0 || bx <= 0 || by <= 0 || shared < 0 ||
		gx > math.MaxInt32 || gy > math.MaxUint16 || bx*by > 1024 || shared > math.MaxInt32 {
		return fmt.Errorf("invalid geometry: grid (%d, %d), block (%d, %d), %d B shared", gx, gy, bx, by, shared)
	}
	if shared > defaultMaxShared && int32(shared) > k.shared.Load() {
		// Above 48 KiB a kernel must opt in to its dynamic shared memory.
		r := C.cuFuncSetAttribute(k.fn, C.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, C.int(shared))
		if err := cuCheck(r); err != nil {
			return fmt.Errorf("grid (%d, %d), block (%d, %d): allow %d B of dynamic shared memory: %w", gx, gy, bx, by, shared, err)
		}
		k.shared.Store(int32(shared))
	}
	// The parameters are staged in o.argbuf, C memory (a Go array passed to C would
	// escape to the heap on every launch); the lock makes launches from two goroutines
	// safe, though an Ops normally has one caller.
	o.launchMu.Lock()
	defer o.launchMu.Unlock()
	words := unsafe.Slice((*byte)(o.argbuf), 8*maxParamWords)
	for i, a := range args {
		if a == nil {
			return fmt.Errorf("argument %d of %s is a nil pointer", i, name)
		}
		off := 8 * int(k.offs[i])
		copy(words[off:off+k.sizes[i]], unsafe.Slice((*byte)(a), k.sizes[i]))
	}
	var offs *C.uint8_t
	if len(k.offs) > 0 {
		offs = (*C.uint8_t)(unsafe.Pointer(&k.offs[0]))
	}
	r := C.baton_launch(k.fn, C.uint(gx), C.uint(gy), C.uint(bx), C.uint(by), C.uint(shared),
		C.CUstream(unsafe.Pointer(o.stream.C())), (*C.uint64_t)(o.argbuf), offs, C.int(len(args)))
	if err := cuCheck(r); err != nil {
		return fmt.Errorf("grid (%d, %d), block (%d, %d), %d B shared: %w", gx, gy, bx, by, shared, err)
	}
	return nil
}

// ptxEntry is a kernel's name and parameter sizes in bytes, as declared in PTX.
type ptxEntry struct {
	name  string
	sizes []int
}

// parsePTXEntries finds the visible kernels of a PTX module and their parameters:
//
//	.visible .entry layernorm_forward(
//		.param .u64 layernorm_forward_param_0,
//		.param .u32 layernorm_forward_param_1,
//		.param .align 4 .b8 layernorm_forward_param_2[16]
//	)
//
// Each parameter is `.param` [.align N] .type [.ptr [.space] [.align N]] name[[count]].
func parsePTXEntries(ptx string) ([]ptxEntry, error) {
	var out []ptxEntry
	rest := ptx
	for {
		i := strings.Index(rest, ".entry")
		if i < 0 {
			return out, nil
		}
		// Only `.visible .entry` kernels can be looked up by name.
		line := rest[strings.LastIndexByte(rest[:i], '\n')+1 : i]
		rest = rest[i+len(".entry"):]
		if !strings.Contains(line, ".visible") {
			continue
		}
		open := strings.IndexByte(rest, '(')
		brace := strings.IndexByte(rest, '{')
		if open < 0 || (brace >= 0 && brace < open) {
			// `.entry name {`: no parameter list at all.
			end := len(rest)
			if brace >= 0 {
				end = brace
			}
			name := strings.TrimSpace(rest[:end])
			if name == "" {
				return nil, fmt.Errorf("PTX: .entry without a name")
			}
			out = append(out, ptxEntry{name: name})
			continue
		}
		name := strings.TrimSpace(rest[:open])
		closing := strings.IndexByte(rest[open:], ')')
		if name == "" || closing < 0 {
			return nil, fmt.Errorf("PTX: malformed .entry %q", strings.SplitN(rest, "\n", 2)[0])
		}
		list := rest[open+1 : open+closing]
		rest = rest[open+closing:]
		e := ptxEntry{name: name}
		if strings.TrimSpace(list) != "" {
			for _, p := range strings.Split(list, ",") {
				sz, err := ptxParamSize(p)
				if err != nil {
					return nil, fmt.Errorf("PTX: kernel %s: %w", name, err)
				}
				e.sizes = append(e.sizes, sz)
			}
		}
		out = append(out, e)
	}
}

// ptxParamSize returns the size in bytes of one .param declaration.
func ptxParamSize(decl string) (int, error) {
	f := strings.Fields(decl)
	if len(f) < 3 || f[0] != ".param" {
		return 0, fmt.Errorf("unrecognised parameter %q", strings.TrimSpace(decl))
	}
	elem := 0
	for i := 1; i < len(f)-1; i++ {
		switch f[i] {
		case ".align":
			i++ // skip N
		case ".ptr", ".global", ".shared", ".const", ".local":
		case ".u8", ".s8", ".b8":
			elem = 1
		case ".u16", ".s16", ".b16", ".f16":
			elem = 2
		case ".u32", ".s32", ".b32", ".f32":
			elem = 4
		case ".u64", ".s64", ".b64", ".f64":
			elem = 8
		default:
			return 0, fmt.Errorf("unrecognised parameter %q", strings.TrimSpace(decl))
		}
	}
	if elem == 0 {
		return 0, fmt.Errorf("parameter %q has no type", strings.TrimSpace(decl))
	}
	count := 1
	last := f[len(f)-1]
	if j := strings.IndexByte(last, '['); j >= 0 {
		n, err := strconv.Atoi(strings.TrimSuffix(last[j+1:], "]"))
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("parameter %q: bad array length", strings.TrimSpace(decl))
		}
		count = n
	}
	return elem * count, nil
}

// newArgBuf allocates the C memory launches stage their parameters in; freeArgBuf
// releases it (Close).
func newArgBuf() unsafe.Pointer { return C.calloc(maxParamWords, 8) }

func freeArgBuf(p unsafe.Pointer) { C.free(p) }
