// Shared device helpers of the kernels: warp and block reductions in a fixed order, so results are run-to-run deterministic.
#pragma once

#define FULL_MASK 0xffffffffu

// tf32_round / tf32_trunc: x as TF32 bits (10 mantissa bits), rounded to
// nearest (ties away from zero, as cvt.rna) or toward zero. Integer ops:
// they issue at full rate, where cvt.rna.tf32.f32 is a conversion.
__device__ __forceinline__ unsigned tf32_round(float x) { return (__float_as_uint(x) + 0x1000u) & 0xffffe000u; }
__device__ __forceinline__ unsigned tf32_trunc(float x) { return __float_as_uint(x) & 0xffffe000u; }

// DYNAMIC_SHARED_FLOATS(name): float* name, the launch's dynamic shared memory.
// mma_tf32(d, a, b): d += a b, one warp's m16n8k8 product of TF32 fragments
// with float accumulators (the fragment layouts are PTX's; attention.cu).
// (cudaemu's kernel.h defines CUDAEMU and its own versions of the two.)
#ifndef CUDAEMU
#define DYNAMIC_SHARED_FLOATS(name) extern __shared__ __align__(16) float name[]

__device__ __forceinline__ void mma_tf32(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// mma_bf16(d, a, b): d += a b, one warp's m16n8k16 product of bf16 fragments (two
// bf16 a register, the lower index in the low half) with float accumulators, in
// PTX's layouts (attention.cu); cudaemu's kernel.h has its own.
__device__ __forceinline__ void mma_bf16(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif

// warp_sum_f / warp_sum_d / warp_max_f: xor butterflies; every lane ends with the
// same value (a+b == b+a), and the order depends on nothing but the lane numbers.
__device__ __forceinline__ float warp_sum_f(float x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(FULL_MASK, x, o);
    return x;
}

__device__ __forceinline__ double warp_sum_d(double x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(FULL_MASK, x, o);
    return x;
}

__device__ __forceinline__ float warp_max_f(float x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(FULL_MASK, x, o));
    return x;
}

// block_sum_d: sum over a 1-D block (blockDim.x a multiple of 32, at most 1024)
// returned to every thread. scratch holds 32 doubles; the call synchronises
// the block, so every thread must make it.
__device__ __forceinline__ double block_sum_d(double x, double* scratch) {
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
    x = warp_sum_d(x);
    __syncthreads(); // scratch may still be read by a previous call
    if (lane == 0) scratch[warp] = x;
    __syncthreads();
    x = lane < nwarps ? scratch[lane] : 0.0;
    return warp_sum_d(x);
}

// block_max_f: as block_sum_d, for the maximum of floats.
__device__ __forceinline__ float block_max_f(float x, float* scratch) {
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
    x = warp_max_f(x);
    __syncthreads();
    if (lane == 0) scratch[warp] = x;
    __syncthreads();
    x = lane < nwarps ? scratch[lane] : -INFINITY;
    return warp_max_f(x);
}

// qnan: the value written where an input (a token id) is out of range; a
// kernel cannot panic, so the NaN carries the error into the loss.
__device__ __forceinline__ float qnan() { return __int_as_float(0x7fc00000); }

// bf16: bfloat16's bits (1 sign, 8 exponent, 7 mantissa bits), the storage of
// the BF16 precision. Conversions are integer ops, so a GPU and cudaemu give
// the same bits, and so does the Go side's reference (kernels/cuda's tests).
typedef unsigned short bf16;

__device__ __forceinline__ float bf16_to_f32(bf16 h) { return __uint_as_float((unsigned)h << 16); }

// f32_to_bf16: x rounded to the nearest bfloat16, ties to even (as
// __float2bfloat16_rn); a NaN stays a quiet NaN of the same sign.
__device__ __forceinline__ bf16 f32_to_bf16(float x) {
    unsigned u = __float_as_uint(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16)((u >> 16) | 0x40u);
    return (bf16)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// ldf / stf: load and store a float of either storage, so one template body
// serves the float32 and the bf16 entries of a kernel.
__device__ __forceinline__ float ldf(const float* p) { return *p; }
__device__ __forceinline__ float ldf(const bf16* p) { return bf16_to_f32(*p); }
__device__ __forceinline__ void stf(float* p, float x) { *p = x; }
__device__ __forceinline__ void stf(bf16* p, float x) { *p = f32_to_bf16(x); }
