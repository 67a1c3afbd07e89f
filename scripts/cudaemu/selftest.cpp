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
    child(argv[0], "k_divergent_barrier", "different numbers of __syncthreads", false);
    child(argv[0], "k_shuffle_exited", "exited while lanes of its warp wait", false);
    child(argv[0], "k_barrier_in_shuffle", "__syncthreads while lanes of this warp wait", false);
    child(argv[0], "past-end", "past the end", false);
    child(argv[0], "guard-page", "SIGSEGV", true);
    printf("cudaemu selftest: %s\n", failures ? "FAILED" : "passed");
    return failures ? 1 : 0;
}
