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

// The kernels' common.cuh leaves the GPU's versions of what follows to nvcc.
#define CUDAEMU 1


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
inline unsigned __float_as_uint(float f) {
    unsigned u;
    memcpy(&u, &f, sizeof u);
    return u;
}
inline float __uint_as_float(unsigned u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
inline float __fmul_rn(float a, float b) { return a * b; }
inline void __syncwarp() { emu::warpExchange(0, emu::laneOf(), 0xffffffffu, "__syncwarp"); }

// mma_tf32: mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32, d += a b for
// the warp, in PTX's fragment layouts: lane (g, t) = (lane / 4, lane % 4)
// holds A's (g, t), (g+8, t), (g, t+4), (g+8, t+4), B's (t, g), (t+4, g) and
// D's (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1). The lanes gather every
// fragment, and each sums the eight products of its elements in order, in float.
inline void mma_tf32(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    struct Frag {
        unsigned a[4], b[2];
    } mine = {{a[0], a[1], a[2], a[3]}, {b[0], b[1]}};
    const unsigned char* all = emu::warpGather(&mine, sizeof mine, "mma_tf32");
    auto lane = [all](int i) {
        Frag f;
        memcpy(&f, all + i * emu::kGatherBytes, sizeof f);
        return f;
    };
    int g = emu::laneOf() / 4, t = emu::laneOf() % 4;
    Frag A[4], B[2][4];  // the lanes holding rows g, g+8 of A, and columns 2t, 2t+1 of B
    for (int k = 0; k < 4; k++) {
        A[k] = lane(4 * g + k);
        B[0][k] = lane(8 * t + k);
        B[1][k] = lane(8 * t + 4 + k);
    }
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 2; c++) {
            float acc = d[2 * r + c];
            for (int k = 0; k < 8; k++) {
                float x = __uint_as_float(A[k % 4].a[r + 2 * (k / 4)]);  // A (g + 8r, k)
                float y = __uint_as_float(B[c][k % 4].b[k / 4]);         // B (k, 2t + c)
                acc += x * y;
            }
            d[2 * r + c] = acc;
        }
}

// mma_bf16: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, d += a b for
// the warp, in PTX's fragment layouts: each register holds two bf16, the lower
// index in its low half; lane (g, t) holds A's (g, 2t..2t+1), (g+8, 2t..2t+1),
// (g, 2t+8..2t+9), (g+8, 2t+8..2t+9) in a[0..3], B's rows 2t..2t+1 and
// 2t+8..2t+9 of column g in b[0..1], and D as mma_tf32. The lanes gather every
// fragment, and each sums the sixteen products of its elements (bf16 widened
// exactly, each product a float) in order k = 0..15, in float, onto d.
inline void mma_bf16(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    struct Frag {
        unsigned a[4], b[2];
    } mine = {{a[0], a[1], a[2], a[3]}, {b[0], b[1]}};
    const unsigned char* all = emu::warpGather(&mine, sizeof mine, "mma_bf16");
    auto lane = [all](int i) {
        Frag f;
        memcpy(&f, all + i * emu::kGatherBytes, sizeof f);
        return f;
    };
    auto half = [](unsigned r, int hi) { return __uint_as_float(hi ? r & 0xffff0000u : r << 16); };
    int g = emu::laneOf() / 4, t = emu::laneOf() % 4;
    Frag A[4], B[2][4];  // the lanes holding rows g, g+8 of A, and columns 2t, 2t+1 of B
    for (int q = 0; q < 4; q++) {
        A[q] = lane(4 * g + q);
        B[0][q] = lane(8 * t + q);
        B[1][q] = lane(8 * t + 4 + q);
    }
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 2; c++) {
            float acc = d[2 * r + c];
            for (int k = 0; k < 16; k++) {
                int q = (k % 8) / 2, hi = k % 2;
                float x = half(A[q].a[r + 2 * (k / 8)], hi);  // A (g + 8r, k)
                float y = half(B[c][q].b[k / 8], hi);         // B (k, 2t + c)
                acc += x * y;
            }
            d[2 * r + c] = acc;
        }
}

inline int min(int a, int b) { return a < b ? a : b; }
