// cudaemu: the CUDA C++ dialect of kernels/cuda/src on the host. Force-included
// (g++ -include) before a .cu file, so that the same source baton compiles to PTX
// also runs on the CPU, one fiber per CUDA thread (block.cpp). It has what the
// kernels use, no more: a kernel that needs another built-in adds it here.
#pragma once

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "emu.h"


// Registers a kernel under its PTX entry name (the generated footer of each .cu).
#define CUDAEMU_KERNEL(name) static emu::Registrar cudaemu_reg_##name(#name, &name);

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// Shared memory: one copy per OS thread, which runs one block at a time.
#define __shared__ static thread_local
// The launch's dynamic shared memory (common.cuh's extern __shared__ array on a GPU).
#define DYNAMIC_SHARED_FLOATS(name) float* name = static_cast<float*>(emu::dynamicShared())

#define threadIdx (emu::threadIndex())
#define blockIdx (emu::tlsBlockIdx)
#define blockDim (emu::tlsBlockDim)
#define gridDim (emu::tlsGridDim)

struct __attribute__((aligned(16))) float4 {
    float x, y, z, w;
};

inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }

inline void __syncthreads() { emu::syncthreads(); }
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T v, int laneMask) {
    return emu::shflXor(mask, v, laneMask);
}
inline unsigned __ballot_sync(unsigned mask, int pred) { return emu::warpBallot(mask, pred != 0); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline float __int_as_float(int i) {
    float f;
    memcpy(&f, &i, sizeof f);
    return f;
}
inline float __fmul_rn(float a, float b) { return a * b; }

inline int min(int a, int b) { return a < b ? a : b; }
