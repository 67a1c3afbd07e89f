// cudaemu: what the emulator's files share: the CUDA thread state kernels
// read, the kernel registry, the grid runner, and the stream queues that
// cuBLAS enqueues its work on.
#pragma once

#include <cuda.h>
#include <stdint.h>
#include <string.h>

#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace emu {

struct Dim3 {
    unsigned x, y, z;
};

// The CUDA thread running now, and the block and grid it belongs to (block.cpp).
struct Thread;
extern thread_local Thread* tlsThread;
extern thread_local Dim3 tlsBlockIdx, tlsBlockDim, tlsGridDim;
const Dim3& threadIndex();

void syncthreads();
uint64_t warpExchange(uint64_t mine, int srcLane, unsigned mask, const char* op);
unsigned warpBallot(unsigned mask, bool vote);
// warpGather: each lane of a full warp gives n bytes (at most kGatherBytes)
// and gets every lane's, lane i's at the result + i*kGatherBytes: one
// exchange for a collective that reads many lanes (the emulated mma). The
// bytes stay until the warp's next-but-one exchange.
constexpr size_t kGatherBytes = 32;
const unsigned char* warpGather(const void* mine, size_t n, const char* op);
int laneOf();

template <typename T>
T shflXor(unsigned mask, T v, int laneMask) {
    static_assert(sizeof(T) <= 8, "shuffle of a type wider than 8 bytes");
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof v);
    bits = warpExchange(bits, (laneOf() ^ laneMask) & 31, mask, "__shfl_xor_sync");
    T out;
    memcpy(&out, &bits, sizeof out);
    return out;
}

// A kernel as the driver sees it: given cuLaunchKernel's parameter array, it
// copies the arguments (as the driver does at launch) and returns the body that
// every thread of the grid runs.
using Binder = std::function<std::function<void()>(void** params)>;
void registerKernel(const char* name, Binder b);

template <typename... A, size_t... I>
std::function<void()> bindArgs(void (*k)(A...), void** p, std::index_sequence<I...>) {
    std::tuple<std::decay_t<A>...> args(*static_cast<std::decay_t<A>*>(p[I])...);
    return [k, args]() { std::apply(k, args); };
}

template <typename... A>
struct Registrar {
    Registrar(const char* name, void (*k)(A...)) {
        registerKernel(name, [k](void** p) { return bindArgs(k, p, std::index_sequence_for<A...>{}); });
    }
};

// findKernel returns the binder registered under a PTX entry name, or nullptr.
const Binder* findKernel(const char* name);

// runGrid runs fn once per thread of the grid on the calling OS thread, each
// block with shared bytes of dynamic shared memory at dynamicShared().
void runGrid(const char* name, Dim3 grid, Dim3 block, unsigned shared, const std::function<void()>& fn);
void* dynamicShared();

// enqueue appends work to a stream (0: the legacy default stream) of the
// current context, as a kernel launch would be.
CUresult enqueue(CUstream s, std::function<void()> work);

}  // namespace emu
