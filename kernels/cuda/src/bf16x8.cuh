// bf16 storage helpers beside common.cuh's: 128-bit access to eight bf16 at once (a whole pack, or a pack cut at a row's end), and an accumulate of either storage.
#pragma once
#include "common.cuh"

// bf16x8: eight bf16 in 16 bytes; element 2k is the low half of w[k], 2k+1 its high
// half (little-endian, as the elements lie in memory). A copy is one 128-bit access.
struct __align__(16) bf16x8 {
    unsigned w[4];
};

// aligned16: whether p may be read or written as bf16x8 (16-byte aligned).
__device__ __forceinline__ bool aligned16(const void* p) { return ((size_t)p & 15) == 0; }

// ld8: the eight floats of p[8i .. 8i+7], exactly (p aligned16).
__device__ __forceinline__ void ld8(const bf16* p, size_t i, float (&f)[8]) {
    bf16x8 v = reinterpret_cast<const bf16x8*>(p)[i];
#pragma unroll
    for (int k = 0; k < 4; k++) {
        f[2 * k] = __uint_as_float(v.w[k] << 16);
        f[2 * k + 1] = __uint_as_float(v.w[k] & 0xffff0000u);
    }
}

// st8: p[8i .. 8i+7] = f, each rounded to the nearest bf16 (f32_to_bf16; p aligned16).
__device__ __forceinline__ void st8(bf16* p, size_t i, const float (&f)[8]) {
    bf16x8 v;
#pragma unroll
    for (int k = 0; k < 4; k++) v.w[k] = (unsigned)f32_to_bf16(f[2 * k]) | ((unsigned)f32_to_bf16(f[2 * k + 1]) << 16);
    reinterpret_cast<bf16x8*>(p)[i] = v;
}

// PACKS(p, n): a grid-stride loop of p over packs [0, n): each thread takes
// packs of 8 elements (one 128-bit access per operand) at a stride of the grid.
#define PACKS(p, n) for (size_t p = blockIdx.x * (size_t)blockDim.x + threadIdx.x; p < (n); p += (size_t)gridDim.x * blockDim.x)

// ldn / stn: the pack p[c0 .. c0+8) cut at n (c0 < n): with one 128-bit access
// when vec (p aligned16, c0 and n multiples of 8), else one element at a time,
// lanes past n read as 0 and not written. Either way the same values, so a
// kernel that sums packs in order sums them in the same order on both paths.
__device__ __forceinline__ void ldn(const bf16* p, size_t c0, size_t n, bool vec, float (&f)[8]) {
    if (vec) {
        ld8(p, c0 / 8, f);
        return;
    }
#pragma unroll
    for (int k = 0; k < 8; k++) f[k] = c0 + k < n ? bf16_to_f32(p[c0 + k]) : 0.0f;
}

__device__ __forceinline__ void stn(bf16* p, size_t c0, size_t n, bool vec, const float (&f)[8]) {
    if (vec) {
        st8(p, c0 / 8, f);
        return;
    }
#pragma unroll
    for (int k = 0; k < 8; k++)
        if (c0 + k < n) p[c0 + k] = f32_to_bf16(f[k]);
}

// addf: *p += x in float32, in either storage (a bf16 *p is widened, and the sum
// rounded once); the float32 form is the plain compound assignment.
__device__ __forceinline__ void addf(float* p, float x) { *p += x; }
__device__ __forceinline__ void addf(bf16* p, float x) { *p = f32_to_bf16(bf16_to_f32(*p) + x); }
