// cudaemu's NCCL test: two processes (this program, forked before either
// touches CUDA) exchange messages through the emulated libnccl.so.2 and check
// what NCCL promises and baton relies on: both directions at once on two
// communicators, and on one within a group; messages matched in posting
// order; a send after the work before it on its stream, a receive's
// completion an event other streams wait on; a size mismatch and a vanished
// peer reported as the communicator's asynchronous error. Exit 0: all passed.
#include <cuda.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

extern "C" {
struct ncclUniqueId {
    char internal[128];
};
int ncclGetVersion(int*);
int ncclGetUniqueId(ncclUniqueId*);
int ncclCommInitRank(void**, int, ncclUniqueId, int);
int ncclCommDestroy(void*);
int ncclCommAbort(void*);
int ncclCommGetAsyncError(void*, int*);
int ncclSend(const void*, size_t, int, int, void*, CUstream);
int ncclRecv(void*, size_t, int, int, void*, CUstream);
int ncclGroupStart(void);
int ncclGroupEnd(void);
}

namespace {

constexpr int kFloat32 = 7, kInvalidUsage = 5, kRemoteError = 6;
constexpr size_t kBig = 1 << 18;  // floats: 1 MiB, far above a socket's buffer

int rank, failures;

void expect(bool ok, const char* what) {
    printf("rank %d %s: %s\n", rank, ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

void must(int r, const char* call) {
    if (r != 0) {
        fprintf(stderr, "nccl-selftest: rank %d: %s returned %d\n", rank, call, r);
        exit(1);
    }
}

void* comm(const ncclUniqueId& id) {
    void* c;
    must(ncclCommInitRank(&c, 2, id, rank), "ncclCommInitRank");
    return c;
}

CUdeviceptr alloc(size_t floats) {
    CUdeviceptr p;
    must(cuMemAlloc(&p, floats * 4), "cuMemAlloc");
    return p;
}

// fill writes tag*1e6 + i to p[i] on the host and uploads it.
void fill(CUdeviceptr p, size_t n, float tag) {
    std::vector<float> h(n);
    for (size_t i = 0; i < n; i++) h[i] = tag * 1e6f + (float)i;
    must(cuMemcpyHtoD(p, h.data(), n * 4), "cuMemcpyHtoD");
}

bool holds(CUdeviceptr p, size_t n, float tag) {
    std::vector<float> h(n);
    must(cuMemcpyDtoH(h.data(), p, n * 4), "cuMemcpyDtoH");
    for (size_t i = 0; i < n; i++)
        if (h[i] != tag * 1e6f + (float)i) return false;
    return true;
}

int asyncError(void* c) {
    int e = -1;
    must(ncclCommGetAsyncError(c, &e), "ncclCommGetAsyncError");
    return e;
}

void test(const ncclUniqueId* ids) {
    int peer = 1 - rank;
    CUdevice d;
    CUcontext ctx;
    CUstream sendS, recvS, other;
    must(cuInit(0), "cuInit");
    must(cuDeviceGet(&d, 0), "cuDeviceGet");
    must(cuDevicePrimaryCtxRetain(&ctx, d), "cuDevicePrimaryCtxRetain");
    must(cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
    must(cuStreamCreate(&sendS, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    must(cuStreamCreate(&recvS, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    must(cuStreamCreate(&other, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    CUdeviceptr src = alloc(kBig), dst = alloc(kBig), copy = alloc(kBig);

    // Both ways at once, each rank posting its send first: one communicator
    // per direction, each on its own stream.
    void* fwd = comm(ids[0]);
    void* bwd = comm(ids[1]);
    fill(src, kBig, (float)rank);
    must(ncclSend((void*)src, kBig, kFloat32, peer, rank == 0 ? fwd : bwd, sendS), "ncclSend");
    must(ncclRecv((void*)dst, kBig, kFloat32, peer, rank == 0 ? bwd : fwd, recvS), "ncclRecv");
    must(cuStreamSynchronize(sendS), "cuStreamSynchronize");
    must(cuStreamSynchronize(recvS), "cuStreamSynchronize");
    expect(holds(dst, kBig, (float)peer), "both ways at once on two communicators");

    // Both ways on one communicator and one stream, as one group.
    fill(src, kBig, 10.0f + rank);
    must(ncclGroupStart(), "ncclGroupStart");
    must(ncclSend((void*)src, kBig, kFloat32, peer, fwd, sendS), "ncclSend");
    must(ncclRecv((void*)dst, kBig, kFloat32, peer, fwd, sendS), "ncclRecv");
    must(ncclGroupEnd(), "ncclGroupEnd");
    must(cuStreamSynchronize(sendS), "cuStreamSynchronize");
    expect(holds(dst, kBig, 10.0f + peer), "both ways in one group");

    // Messages of three sizes from rank 0, received in posting order.
    const size_t sizes[] = {1, kBig / 2 + 3, 3};
    CUdeviceptr bufs[3];
    for (int i = 0; i < 3; i++) {
        bufs[i] = alloc(sizes[i]);
        if (rank == 0) fill(bufs[i], sizes[i], 20.0f + i);
    }
    for (int i = 0; i < 3; i++) {
        if (rank == 0) must(ncclSend((void*)bufs[i], sizes[i], kFloat32, 1, fwd, sendS), "ncclSend");
        if (rank == 1) must(ncclRecv((void*)bufs[i], sizes[i], kFloat32, 0, fwd, recvS), "ncclRecv");
    }
    must(cuStreamSynchronize(rank == 0 ? sendS : recvS), "cuStreamSynchronize");
    if (rank == 1) expect(holds(bufs[0], 1, 20) && holds(bufs[1], sizes[1], 21) && holds(bufs[2], 3, 22), "posting order");

    // Stream order: rank 0's send follows a memset on its stream; rank 1's
    // other stream waits on an event after the receive, then copies.
    if (rank == 0) {
        must(cuMemsetD32Async(src, 0x40490fdb, kBig, sendS), "cuMemsetD32Async");  // 3.14159274f
        must(ncclSend((void*)src, kBig, kFloat32, 1, fwd, sendS), "ncclSend");
        must(cuStreamSynchronize(sendS), "cuStreamSynchronize");
    } else {
        CUevent received;
        must(cuEventCreate(&received, CU_EVENT_DEFAULT), "cuEventCreate");
        must(ncclRecv((void*)dst, kBig, kFloat32, 0, fwd, recvS), "ncclRecv");
        must(cuEventRecord(received, recvS), "cuEventRecord");
        must(cuStreamWaitEvent(other, received, 0), "cuStreamWaitEvent");
        must(cuMemcpyDtoDAsync(copy, dst, kBig * 4, other), "cuMemcpyDtoDAsync");
        must(cuStreamSynchronize(other), "cuStreamSynchronize");
        std::vector<float> h(kBig);
        must(cuMemcpyDtoH(h.data(), copy, kBig * 4), "cuMemcpyDtoH");
        bool ok = true;
        for (float v : h) ok &= v == 3.14159274f;
        expect(ok, "a send after its stream's work, a receive's completion an event");
    }

    // Sizes that disagree: both ends' communicators report it.
    must(ncclSend((void*)src, rank == 0 ? 2 : 4, kFloat32, peer, rank == 0 ? fwd : bwd, sendS), "ncclSend");
    must(ncclRecv((void*)dst, rank == 0 ? 2 : 4, kFloat32, peer, rank == 0 ? bwd : fwd, recvS), "ncclRecv");
    must(cuStreamSynchronize(sendS), "cuStreamSynchronize");
    must(cuStreamSynchronize(recvS), "cuStreamSynchronize");
    expect(asyncError(fwd) == kInvalidUsage && asyncError(bwd) == kInvalidUsage, "a size mismatch is ncclInvalidUsage");
    must(ncclCommAbort(fwd), "ncclCommAbort");
    must(ncclCommAbort(bwd), "ncclCommAbort");

    // A peer that exits: rank 1 leaves without a word; rank 0's receive ends
    // with ncclRemoteError rather than waiting for ever.
    void* last = comm(ids[2]);
    if (rank == 1) {
        fflush(stdout);
        _exit(failures ? 1 : 0);
    }
    must(ncclRecv((void*)dst, 4, kFloat32, 1, last, recvS), "ncclRecv");
    must(cuStreamSynchronize(recvS), "cuStreamSynchronize");
    expect(asyncError(last) == kRemoteError, "a vanished peer is ncclRemoteError");
    must(ncclCommAbort(last), "ncclCommAbort");
}

}  // namespace

int main() {
    int v = 0;
    ncclUniqueId ids[3];
    must(ncclGetVersion(&v), "ncclGetVersion");
    for (auto& id : ids) must(ncclGetUniqueId(&id), "ncclGetUniqueId");
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) return 1;
    rank = child == 0 ? 1 : 0;
    test(ids);
    int st = 0;
    waitpid(child, &st, 0);
    expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "rank 1 passed");
    printf("cudaemu NCCL selftest (NCCL %d.%d.%d emulated): %s\n", v / 10000, v / 100 % 100, v % 100,
           failures ? "FAILED" : "passed");
    return failures ? 1 : 0;
}
