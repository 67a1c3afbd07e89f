// cudaemu's own test: the CUDA semantics baton's tests rely on hold (warp
// shuffles and votes, barriers, stream order, events, memory filled with
// NaNs, green contexts of several SM groups of one split), and every misuse
// the emulator promises to catch is caught: each such case runs in a child
// process (this program, given the case's name), which must die with the
// promised message. Exit 0: all passed.
#include "kernel.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

extern "C" __global__ void k_warp_sum(float* out) {
    float x = (float)threadIdx.x;
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    out[threadIdx.x] = x;
}

extern "C" __global__ void k_block_sum(float* out) {
    __shared__ float part[32];
    float x = (float)threadIdx.x;
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = x;
    __syncthreads();
    if (threadIdx.x == 0) {
        float s = 0;
        for (unsigned w = 0; w < blockDim.x / 32; w++) s += part[w];
        out[blockIdx.x] = s;
    }
}

extern "C" __global__ void k_ballot(unsigned* out) {
    unsigned lane = threadIdx.x % 32;
    unsigned b = __ballot_sync(0xffffffffu, lane % 3 == 0);
    if (lane == 0) out[threadIdx.x / 32] = b;
}

// k_gate holds its stream until the host sets *flag (pinned memory), then
// writes v: work behind it is deterministically not done before that.
extern "C" __global__ void k_gate(float* out, volatile int* flag, float v) {
    while (*flag == 0) {
    }
    out[0] = v;
}

extern "C" __global__ void k_write(float* out, int i) {
    if (threadIdx.x == 0) out[i] = 1.0f;
}

extern "C" __global__ void k_divergent_barrier(float* out) {
    if (threadIdx.x == 0) return;
    __syncthreads();
    out[threadIdx.x] = 1.0f;
}

extern "C" __global__ void k_shuffle_exited(float* out) {
    if (threadIdx.x == 5) return;
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
}

extern "C" __global__ void k_barrier_in_shuffle(float* out) {
    if (threadIdx.x == 0) {
        out[0] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
    } else {
        __syncthreads();
    }
}

CUDAEMU_KERNEL(k_warp_sum)
CUDAEMU_KERNEL(k_block_sum)
CUDAEMU_KERNEL(k_ballot)
CUDAEMU_KERNEL(k_gate)
CUDAEMU_KERNEL(k_write)
CUDAEMU_KERNEL(k_divergent_barrier)
CUDAEMU_KERNEL(k_shuffle_exited)
CUDAEMU_KERNEL(k_barrier_in_shuffle)

namespace {

// The module's PTX as the emulator reads it: entry names and launch bounds.
const char* kPTX = R"(
.visible .entry k_warp_sum(
)
.maxntid 64, 1, 1
{
}
.visible .entry k_block_sum(
)
{
}
.visible .entry k_ballot(
)
{
}
.visible .entry k_gate(
)
{
}
.visible .entry k_write(
)
{
}
.visible .entry k_divergent_barrier(
)
{
}
.visible .entry k_shuffle_exited(
)
{
}
.visible .entry k_barrier_in_shuffle(
)
{
}
)";

int failures = 0;

void expect(bool ok, const char* what) {
    printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

void must(CUresult r, const char* call) {
    if (r != CUDA_SUCCESS) {
        fprintf(stderr, "selftest: %s returned %d\n", call, (int)r);
        exit(1);
    }
}

CUmodule module;

CUfunction fn(const char* name) {
    CUfunction f;
    must(cuModuleGetFunction(&f, module, name), name);
    return f;
}

CUresult launch(const char* name, unsigned grid, unsigned block, CUstream s, std::vector<void*> args) {
    return cuLaunchKernel(fn(name), grid, 1, 1, block, 1, 1, 0, s, args.data(), nullptr);
}

CUdeviceptr alloc(size_t bytes) {
    CUdeviceptr p;
    must(cuMemAlloc(&p, bytes), "cuMemAlloc");
    return p;
}

void setup() {
    CUdevice d;
    CUcontext c;
    must(cuInit(0), "cuInit");
    must(cuDeviceGet(&d, 0), "cuDeviceGet");
    must(cuDevicePrimaryCtxRetain(&c, d), "cuDevicePrimaryCtxRetain");
    must(cuCtxSetCurrent(c), "cuCtxSetCurrent");
    must(cuModuleLoadData(&module, kPTX), "cuModuleLoadData");
}

void semantics() {
    CUdeviceptr out = alloc(64 * sizeof(float));
    std::vector<float> h(64);
    must(cuMemcpyDtoH(h.data(), out, 64 * sizeof(float)), "cuMemcpyDtoH");
    bool nan = true;
    for (float v : h) nan = nan && std::isnan(v);
    expect(nan, "fresh device memory reads as NaN");

    must(launch("k_warp_sum", 1, 64, nullptr, {&out}), "k_warp_sum");
    must(cuMemcpyDtoH(h.data(), out, 64 * sizeof(float)), "cuMemcpyDtoH");
    expect(h[0] == 496 && h[31] == 496 && h[32] == 1520 && h[63] == 1520, "__shfl_xor_sync butterflies sum each warp");

    expect(launch("k_warp_sum", 1, 96, nullptr, {&out}) == CUDA_ERROR_INVALID_VALUE,
           "a launch above the entry's .maxntid is refused");

    must(launch("k_block_sum", 3, 256, nullptr, {&out}), "k_block_sum");
    must(cuMemcpyDtoH(h.data(), out, 3 * sizeof(float)), "cuMemcpyDtoH");
    expect(h[0] == 32640 && h[2] == 32640, "__syncthreads orders shared memory across warps, in every block");

    CUdeviceptr votes = alloc(2 * sizeof(unsigned));
    unsigned hv[2];
    must(launch("k_ballot", 1, 64, nullptr, {&votes}), "k_ballot");
    must(cuMemcpyDtoH(hv, votes, sizeof hv), "cuMemcpyDtoH");
    expect(hv[0] == 0x49249249u && hv[1] == 0x49249249u, "__ballot_sync gathers every lane's vote");

    CUstream a, b;
    CUevent e;
    must(cuStreamCreate(&a, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    must(cuStreamCreate(&b, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    must(cuEventCreate(&e, CU_EVENT_DEFAULT), "cuEventCreate");
    CUdeviceptr cell = alloc(sizeof(float)), copy = alloc(sizeof(float));
    int* flag;
    must(cuMemAllocHost(reinterpret_cast<void**>(&flag), sizeof(int)), "cuMemAllocHost");
    *flag = 0;
    CUevent start;
    must(cuEventCreate(&start, CU_EVENT_DEFAULT), "cuEventCreate");
    must(cuEventRecord(start, a), "cuEventRecord");
    float v = 7;
    must(launch("k_gate", 1, 1, a, {&cell, &flag, &v}), "k_gate");
    must(cuEventRecord(e, a), "cuEventRecord");
    must(cuStreamWaitEvent(b, e, 0), "cuStreamWaitEvent");
    must(cuMemcpyDtoDAsync(copy, cell, sizeof(float), b), "cuMemcpyDtoDAsync");
    expect(cuEventQuery(e) == CUDA_ERROR_NOT_READY && cuStreamQuery(b) == CUDA_ERROR_NOT_READY,
           "an event, and a stream waiting on it, behind unfinished work are not ready");
    usleep(20000);
    __atomic_store_n(flag, 1, __ATOMIC_SEQ_CST);
    float got = 0;
    must(cuMemcpyDtoHAsync(&got, copy, sizeof got, b), "cuMemcpyDtoHAsync");
    expect(got == 7, "a stream waiting on an event runs after the work before it; a copy to pageable memory is done on return");
    float ms = -1;
    must(cuEventElapsedTime(&ms, start, e), "cuEventElapsedTime");
    expect(ms >= 15, "events time the work between them (a 20 ms gate)");
    must(cuMemFreeHost(flag), "cuMemFreeHost");

    CUcontext other;
    CUdevice d;
    must(cuDeviceGet(&d, 0), "cuDeviceGet");
    must(cuCtxCreate(&other, 0, d), "cuCtxCreate");
    int zero = 0;
    expect(launch("k_write", 1, 32, nullptr, {&out, &zero}) == CUDA_ERROR_INVALID_HANDLE,
           "a kernel of a module loaded in another context is refused");
    expect(cuEventRecord(e, nullptr) == CUDA_ERROR_INVALID_HANDLE, "an event is recorded only in its own context");
    CUdeviceptr owned = alloc(64);
    must(cuCtxDestroy(other), "cuCtxDestroy");
    expect(cuMemFree(owned) == CUDA_ERROR_INVALID_VALUE, "a destroyed context's memory went with it");
}

// Resource is the 12.4 ABI's CUdevResource (144 bytes), as green.cpp has it.
struct Resource {
    int type;
    unsigned char pad[92];
    union {
        unsigned smCount;
        unsigned char oversize[48];
    } u;
};

// green checks what baton's uneven partitions rely on: groups of one split
// make one green context of all their SMs, which it reports; groups of two
// splits are refused, as the driver documents.
void green() {
    using GetRes = CUresult (*)(CUdevice, Resource*, int);
    using Split = CUresult (*)(Resource*, unsigned*, const Resource*, Resource*, unsigned, unsigned);
    using Desc = CUresult (*)(void**, Resource*, unsigned);
    using Create = CUresult (*)(void**, void*, CUdevice, unsigned);
    using GreenRes = CUresult (*)(void*, Resource*, int);
    using Destroy = CUresult (*)(void*);
    void *getRes, *split, *desc, *create, *greenRes, *destroy;
    must(cuGetProcAddress("cuDeviceGetDevResource", &getRes, 12040, 0), "cuGetProcAddress");
    must(cuGetProcAddress("cuDevSmResourceSplitByCount", &split, 12040, 0), "cuGetProcAddress");
    must(cuGetProcAddress("cuDevResourceGenerateDesc", &desc, 12040, 0), "cuGetProcAddress");
    must(cuGetProcAddress("cuGreenCtxCreate", &create, 12040, 0), "cuGetProcAddress");
    must(cuGetProcAddress("cuGreenCtxGetDevResource", &greenRes, 12040, 0), "cuGetProcAddress");
    must(cuGetProcAddress("cuGreenCtxDestroy", &destroy, 12040, 0), "cuGetProcAddress");
    Resource all, a[4], b[4], rest, held;
    must(reinterpret_cast<GetRes>(getRes)(0, &all, 1), "cuDeviceGetDevResource");
    unsigned na = 4, nb = 4;
    must(reinterpret_cast<Split>(split)(a, &na, &all, &rest, 0, 8), "cuDevSmResourceSplitByCount");
    must(reinterpret_cast<Split>(split)(b, &nb, &all, &rest, 0, 8), "cuDevSmResourceSplitByCount");
    void *d, *g;
    must(reinterpret_cast<Desc>(desc)(&d, a, 3), "cuDevResourceGenerateDesc");
    must(reinterpret_cast<Create>(create)(&g, d, 0, 1), "cuGreenCtxCreate");
    must(reinterpret_cast<GreenRes>(greenRes)(g, &held, 1), "cuGreenCtxGetDevResource");
    expect(na >= 3 && held.u.smCount == 3 * a[0].u.smCount, "a green context of 3 groups of one split holds all their SMs");
    must(reinterpret_cast<Destroy>(destroy)(g), "cuGreenCtxDestroy");
    Resource mixed[2] = {a[0], b[1]};
    expect(reinterpret_cast<Desc>(desc)(&d, mixed, 2) == static_cast<CUresult>(915),
           "groups of two splits make no descriptor (CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION)");
}

// graphs checks stream capture: captured work does not run until its graph
// is launched, and then runs in order on the launch stream, each launch
// again; and what the driver forbids during a capture is refused with its
// error, invalidating the capture where the driver does.
void graphs() {
    CUstream a, blocking;
    must(cuStreamCreate(&a, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    must(cuStreamCreate(&blocking, CU_STREAM_DEFAULT), "cuStreamCreate");
    CUdeviceptr x = alloc(4 * sizeof(float)), y = alloc(4 * sizeof(float)), out = alloc(64 * sizeof(float));
    float h[4];
    auto fill = [&](CUdeviceptr p, float v) {
        unsigned bits;
        memcpy(&bits, &v, 4);
        must(cuMemsetD32(p, bits, 4), "cuMemsetD32");
    };
    fill(x, 0);
    fill(y, 0);
    CUstreamCaptureStatus st;
    must(cuStreamBeginCapture(a, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
    must(cuStreamIsCapturing(a, &st), "cuStreamIsCapturing");
    expect(st == CU_STREAM_CAPTURE_STATUS_ACTIVE, "a stream reports its capture");
    float one = 1;
    unsigned oneBits;
    memcpy(&oneBits, &one, 4);
    must(cuMemsetD32Async(x, oneBits, 4, a), "cuMemsetD32Async");
    must(cuMemcpyDtoDAsync(y, x, 4 * sizeof(float), a), "cuMemcpyDtoDAsync");
    int i = 3;
    must(launch("k_write", 1, 32, a, {&out, &i}), "k_write");
    CUevent inside;
    must(cuEventCreate(&inside, CU_EVENT_DEFAULT), "cuEventCreate");
    must(cuEventRecord(inside, a), "cuEventRecord");
    expect(cuStreamWaitEvent(a, inside, 0) == CUDA_SUCCESS, "a capturing stream waits on an event of its own capture");
    expect(cuEventQuery(inside) == CUDA_ERROR_CAPTURED_EVENT, "an event recorded in a capture cannot be queried (CUDA_ERROR_CAPTURED_EVENT)");
    usleep(10000);
    CUstream b;
    must(cuStreamCreate(&b, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    must(cuMemcpyDtoHAsync(h, y, sizeof h, b), "cuMemcpyDtoHAsync");  // another stream's: allowed, and the capture stays valid
    expect(h[0] == 0, "captured work does not run");
    CUgraph g;
    must(cuStreamEndCapture(a, &g), "cuStreamEndCapture");
    CUgraphExec e;
    must(cuGraphInstantiateWithFlags(&e, g, 0), "cuGraphInstantiateWithFlags");
    must(cuGraphDestroy(g), "cuGraphDestroy");
    CUevent t0, t1;
    must(cuEventCreate(&t0, CU_EVENT_DEFAULT), "cuEventCreate");
    must(cuEventCreate(&t1, CU_EVENT_DEFAULT), "cuEventCreate");
    must(cuEventRecord(t0, a), "cuEventRecord");
    must(cuGraphLaunch(e, a), "cuGraphLaunch");
    must(cuEventRecord(t1, a), "cuEventRecord");
    must(cuStreamSynchronize(a), "cuStreamSynchronize");
    must(cuMemcpyDtoH(h, y, sizeof h), "cuMemcpyDtoH");
    float o[4];
    must(cuMemcpyDtoH(o, out + 3 * sizeof(float), sizeof(float)), "cuMemcpyDtoH");
    float ms = -1;
    expect(h[0] == 1 && h[3] == 1 && o[0] == 1 && cuEventElapsedTime(&ms, t0, t1) == CUDA_SUCCESS && ms >= 0,
           "a launched graph runs its memset, copy and kernel in order, between events around the launch");
    fill(y, 0);
    fill(x, 5);
    must(cuGraphLaunch(e, a), "cuGraphLaunch");
    must(cuStreamSynchronize(a), "cuStreamSynchronize");
    must(cuMemcpyDtoH(h, y, sizeof h), "cuMemcpyDtoH");
    expect(h[0] == 1 && h[2] == 1, "each launch replays the work");
    must(cuGraphExecDestroy(e), "cuGraphExecDestroy");

    // end expects the capture on s to have been invalidated.
    auto end = [&](CUstream s) {
        CUgraph none = reinterpret_cast<CUgraph>(1);
        return cuStreamEndCapture(s, &none) == CUDA_ERROR_STREAM_CAPTURE_INVALIDATED && none == nullptr;
    };
    must(cuStreamBeginCapture(a, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
    expect(cuStreamSynchronize(a) == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuStreamSynchronize on a capturing stream is refused");
    must(cuStreamIsCapturing(a, &st), "cuStreamIsCapturing");
    expect(st == CU_STREAM_CAPTURE_STATUS_INVALIDATED, "... and invalidates its capture");
    expect(launch("k_write", 1, 32, a, {&out, &i}) == CUDA_ERROR_STREAM_CAPTURE_INVALIDATED,
           "work on a stream whose capture was invalidated is refused");
    expect(end(a), "ending an invalidated capture gives no graph (CUDA_ERROR_STREAM_CAPTURE_INVALIDATED)");

    must(cuStreamBeginCapture(a, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
    must(cuEventRecord(inside, a), "cuEventRecord");
    expect(cuEventSynchronize(inside) == CUDA_ERROR_CAPTURED_EVENT, "a host wait on an event recorded in a capture is refused");
    expect(cuStreamQuery(a) == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED && end(a), "cuStreamQuery on a capturing stream is refused");

    must(cuStreamBeginCapture(a, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
    expect(cuMemcpyHtoD(x, h, sizeof h) == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED && end(a),
           "a synchronous copy on the capturing thread is refused and invalidates the capture");

    must(cuStreamBeginCapture(a, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
    CUdeviceptr more;
    expect(cuMemAlloc(&more, 64) == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED && end(a), "cuMemAlloc on the capturing thread is refused");

    must(cuStreamBeginCapture(a, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
    expect(cuMemcpyHtoDAsync(x, h, sizeof h, a) == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED && end(a),
           "a copy of pageable host memory on a capturing stream is refused");

    must(cuStreamBeginCapture(a, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
    CUevent outside;
    must(cuEventCreate(&outside, CU_EVENT_DEFAULT), "cuEventCreate");
    must(cuEventRecord(outside, blocking), "cuEventRecord");
    expect(cuStreamWaitEvent(a, outside, 0) == CUDA_ERROR_STREAM_CAPTURE_ISOLATION && end(a),
           "a capturing stream's wait on an event recorded outside the capture is refused (isolation)");

    must(cuStreamBeginCapture(blocking, CU_STREAM_CAPTURE_MODE_RELAXED), "cuStreamBeginCapture");
    expect(launch("k_write", 1, 32, nullptr, {&out, &i}) == CUDA_ERROR_STREAM_CAPTURE_IMPLICIT && end(blocking),
           "the legacy stream while a blocking stream captures is refused (implicit dependency)");

    expect(cuStreamBeginCapture(nullptr, CU_STREAM_CAPTURE_MODE_GLOBAL) == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED,
           "the legacy stream cannot capture");
    must(cuStreamBeginCapture(a, CU_STREAM_CAPTURE_MODE_GLOBAL), "cuStreamBeginCapture");
    CUresult other = CUDA_SUCCESS;
    CUcontext ctx;
    must(cuCtxGetCurrent(&ctx), "cuCtxGetCurrent");
    std::thread([&] {
        cuCtxSetCurrent(ctx);
        CUgraph none;
        other = cuStreamEndCapture(a, &none);
    }).join();
    CUgraph empty;
    expect(other == CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD && cuStreamEndCapture(a, &empty) == CUDA_SUCCESS,
           "a capture not begun relaxed ends on its own thread only");
    must(cuGraphDestroy(empty), "cuGraphDestroy");
    must(cuStreamIsCapturing(a, &st), "cuStreamIsCapturing");
    expect(st == CU_STREAM_CAPTURE_STATUS_NONE, "an ended capture leaves the stream as it was");
    must(launch("k_write", 1, 32, a, {&out, &i}), "k_write");
    must(cuStreamSynchronize(a), "cuStreamSynchronize");
}

// misuse runs one case that must kill the process.
void misuse(const char* name) {
    CUdeviceptr out = alloc(64 * sizeof(float));
    int i = 0;
    if (!strcmp(name, "past-end")) {
        CUdeviceptr small = alloc(10 * sizeof(float));
        i = 10;
        must(launch("k_write", 1, 32, nullptr, {&small, &i}), "k_write");
        cuMemFree(small);
    } else if (!strcmp(name, "guard-page")) {
        i = 64;  // the allocation is exactly 256 bytes: the next float is the guard page
        must(launch("k_write", 1, 32, nullptr, {&out, &i}), "k_write");
    } else {
        must(launch(name, 1, 64, nullptr, {&out}), name);
    }
    cuCtxSynchronize();
}

// child runs this program on one misuse and reports whether it died and what it said.
void child(const char* self, const char* name, const char* want, bool signalled) {
    std::string log = std::string("/tmp/cudaemu-selftest-") + std::to_string(getpid()) + "-" + name;
    std::string cmd = std::string("'") + self + "' " + name + " 2>'" + log + "'";
    int st = system(cmd.c_str());
    std::string said;
    if (FILE* f = fopen(log.c_str(), "r")) {
        char buf[1024];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) said.append(buf, n);
        fclose(f);
    }
    remove(log.c_str());
    // The shell reports a child killed by signal N as exit status 128+N.
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    bool ok = signalled ? code == 128 + SIGSEGV : code == 128 + SIGABRT && said.find(want) != std::string::npos;
    std::string what = std::string("caught: ") + name + " (" + want + ")";
    expect(ok, what.c_str());
    if (!ok) fprintf(stderr, "  status %d, stderr: %s\n", st, said.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    setup();
    if (argc == 2) {
        misuse(argv[1]);
        return 0;  // not caught: the parent reports it
    }
    semantics();
    green();
    graphs();
    child(argv[0], "k_divergent_barrier", "different numbers of __syncthreads", false);
    child(argv[0], "k_shuffle_exited", "exited while lanes of its warp wait", false);
    child(argv[0], "k_barrier_in_shuffle", "__syncthreads while lanes of this warp wait", false);
    child(argv[0], "past-end", "past the end", false);
    child(argv[0], "guard-page", "SIGSEGV", true);
    printf("cudaemu selftest: %s\n", failures ? "FAILED" : "passed");
    return failures ? 1 : 0;
}
