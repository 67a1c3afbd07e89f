// Attention: causal multi-head attention, a fused online-softmax forward and a backward recomputing p from lse.
//
// The fused kernels keep no (T, T) matrix in device memory and use no atomics;
// the backward passes D = dout.out from its dq kernel to its dk/dv kernel through
// a (B, NH, T) buffer. (The TF32 backward's helper kernel, at the end, works on
// (NH, T, T) score matrices that cuBLAS fills.)
// Layout: qkv (B, T, 3C) as [q | k | v] per token, heads of size hs = C/NH at
// offset h*hs of each part; out (B, T, C); lse (B, NH, T).
//
// Threads: a query (or key) row is owned by a group of TPR consecutive lanes,
// each holding ATT_DPT = 32 of the row's dimensions in registers, so a head
// of up to HS = 32*TPR dimensions fits: TPR = 1, 2, 4 give the kernels
// *_hs32, *_hs64 and *_hs128. hs = C/NH must be at most 128 (MaxHeadSize on
// the Go side); a smaller hs uses the next variant with the dimensions beyond
// hs zero-filled. Thread tq of a group owns float4 chunks c = 0..7 at
// dimensions 4*(c*TPR + tq) .. +3 (interleaved, so a group's float4 reads of
// one shared row hit distinct banks). Dot products: four float32 partial sums
// per thread, (s0+s1)+(s2+s3), then a butterfly over the group.
//
// Blocks: ATT_BR = 64 rows (x TPR threads); grid (B*NH, ceil(T/64)); blocks
// with the most work are numbered first. K/V (or Q/dO) tiles are staged in
// shared memory: at most 32 KiB per block (hs128), under the 48 KiB default.
#include "common.cuh"

#define ATT_DPT 32 // head dimensions per thread
#define ATT_BR 64  // rows per block: queries (forward, dq) or keys (dk, dv)
#define ATT_BC 32  // keys per shared tile (forward, dq)
#define ATT_BQ 32  // queries per shared tile (dk, dv)

// att_dim: the first of the 4 dimensions of chunk c owned by thread tq of its group.
template <int TPR>
__device__ __forceinline__ int att_dim(int tq, int c) {
    return (c * TPR + tq) * 4;
}

// group_sum: x summed over the TPR lanes of a group (all lanes get the same bits).
template <int TPR>
__device__ __forceinline__ float group_sum(float x) {
#pragma unroll
    for (int o = 1; o < TPR; o <<= 1) x += __shfl_xor_sync(FULL_MASK, x, o);
    return x;
}

// dot_row: this group's x (its ATT_DPT registers) . row (HS floats in shared memory).
template <int TPR>
__device__ __forceinline__ float dot_row(const float (&x)[ATT_DPT], const float* row, int tq) {
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
#pragma unroll
    for (int c = 0; c < ATT_DPT / 4; c++) {
        float4 y = *reinterpret_cast<const float4*>(row + att_dim<TPR>(tq, c));
        s0 += x[4 * c] * y.x;
        s1 += x[4 * c + 1] * y.y;
        s2 += x[4 * c + 2] * y.z;
        s3 += x[4 * c + 3] * y.w;
    }
    return group_sum<TPR>((s0 + s1) + (s2 + s3));
}

// axpy_row: y (registers) += a * row (shared).
template <int TPR>
__device__ __forceinline__ void axpy_row(float (&y)[ATT_DPT], float a, const float* row, int tq) {
#pragma unroll
    for (int c = 0; c < ATT_DPT / 4; c++) {
        float4 x = *reinterpret_cast<const float4*>(row + att_dim<TPR>(tq, c));
        y[4 * c] += a * x.x;
        y[4 * c + 1] += a * x.y;
        y[4 * c + 2] += a * x.z;
        y[4 * c + 3] += a * x.w;
    }
}

// load_row: registers = this thread's dimensions of src (hs floats in global
// memory), zero where d >= hs or the row is inactive.
template <int TPR>
__device__ __forceinline__ void load_row(float (&y)[ATT_DPT], const float* src, bool active, int hs, int tq) {
#pragma unroll
    for (int c = 0; c < ATT_DPT / 4; c++) {
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int d = att_dim<TPR>(tq, c) + j;
            y[4 * c + j] = (active && d < hs) ? src[d] : 0.0f;
        }
    }
}

// store_row: dst[d] = a * y (this thread's dimensions d < hs).
template <int TPR>
__device__ __forceinline__ void store_row(float* dst, const float (&y)[ATT_DPT], float a, int hs, int tq) {
#pragma unroll
    for (int c = 0; c < ATT_DPT / 4; c++) {
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int d = att_dim<TPR>(tq, c) + j;
            if (d < hs) dst[d] = a * y[4 * c + j];
        }
    }
}

// load_tile: dst (nrows, HS) in shared memory = rows r0.. of a (T, stride) head
// slice starting at src, zero-filled beyond T and hs. All threads take part.
template <int HS>
__device__ __forceinline__ void load_tile(float* dst, const float* src, size_t stride, int r0, int nrows, int T,
                                          int hs) {
    for (int e = threadIdx.x; e < nrows * HS; e += blockDim.x) {
        int r = e / HS, d = e % HS;
        int t = r0 + r;
        dst[e] = (t < T && d < hs) ? src[(size_t)t * stride + d] : 0.0f;
    }
}

// attention_forward: out (B, T, C), lse (B, NH, T) from qkv (B, T, 3C); scale = 1/sqrt(hs).
// Each group keeps its query row q, the output accumulator, the running max m
// and the running denominator l (float64); per key tile of ATT_BC keys it
// computes the tile's scores, rescales by expf(m_old - m_new) once, and adds
// p * v. Work: rows t0..t0+63 read keys 0..min(T, t0+64)-1.
template <int TPR>
__device__ __forceinline__ void attention_forward_impl(float* out, float* lse, const float* qkv, int T, int C,
                                                       int NH, float scale) {
    constexpr int HS = ATT_DPT * TPR;
    __shared__ __align__(16) float Ks[ATT_BC * HS]; // (ATT_BC, HS)
    __shared__ __align__(16) float Vs[ATT_BC * HS]; // (ATT_BC, HS)
    int hs = C / NH;
    int bh = blockIdx.x, b = bh / NH, h = bh % NH;
    int t0 = (gridDim.y - 1 - blockIdx.y) * ATT_BR;
    int tq = threadIdx.x % TPR;
    int t = t0 + threadIdx.x / TPR;
    bool active = t < T;
    size_t C3 = 3 * (size_t)C;
    const float* qh = qkv + (size_t)b * T * C3 + (size_t)h * hs; // (T, hs) with row stride 3C
    const float* kh = qh + C;
    const float* vh = qh + 2 * (size_t)C;

    float q[ATT_DPT], acc[ATT_DPT];
    load_row<TPR>(q, qh + (size_t)t * C3, active, hs, tq);
#pragma unroll
    for (int i = 0; i < ATT_DPT; i++) acc[i] = 0.0f;
    float m = -INFINITY; // running max of the scaled scores
    double l = 0.0;      // running sum of expf(s - m)

    int kEnd = min(T, t0 + ATT_BR);
    for (int k0 = 0; k0 < kEnd; k0 += ATT_BC) {
        __syncthreads(); // the previous tile is no longer read
        load_tile<HS>(Ks, kh, C3, k0, ATT_BC, T, hs);
        load_tile<HS>(Vs, vh, C3, k0, ATT_BC, T, hs);
        __syncthreads();
        float s[ATT_BC];
        float tmax = -INFINITY;
#pragma unroll
        for (int k = 0; k < ATT_BC; k++) {
            float sk = dot_row<TPR>(q, Ks + k * HS, tq) * scale;
            if (k0 + k > t) sk = -INFINITY; // causal; also masks keys >= T for active rows
            s[k] = sk;
            tmax = fmaxf(tmax, sk);
        }
        // Key 0 is in the first tile and never masked, so mnew is finite.
        float mnew = fmaxf(m, tmax);
        float corr = expf(m - mnew);
        l *= (double)corr;
#pragma unroll
        for (int i = 0; i < ATT_DPT; i++) acc[i] *= corr;
#pragma unroll
        for (int k = 0; k < ATT_BC; k++) {
            float p = expf(s[k] - mnew);
            l += (double)p;
            axpy_row<TPR>(acc, p, Vs + k * HS, tq);
        }
        m = mnew;
    }
    if (active) {
        size_t bt = (size_t)b * T + t;
        store_row<TPR>(out + bt * C + (size_t)h * hs, acc, (float)(1.0 / l), hs, tq);
        if (tq == 0) lse[(size_t)bh * T + t] = (float)((double)m + log(l));
    }
}

// attention_backward_dq: dq part of dqkv (B, T, 3C) (overwritten) and Dg (B, NH, T)
// from dout (B, T, C), qkv (B, T, 3C), out (B, T, C), lse (B, NH, T):
//   p = expf(q.k * scale - lse), ds = p (dout.v - D) scale, D = dout.out,  dq = sum_k ds k.
// One group per query row, keys in order over shared K/V tiles. D is summed in
// dot_row's order, so where out == v (one key: T = 1, or the first query)
// dout.v - D is exactly 0; the dk/dv kernel reads it from Dg for that reason.
template <int TPR>
__device__ __forceinline__ void attention_backward_dq_impl(float* dqkv, float* Dg, const float* dout,
                                                           const float* qkv, const float* out, const float* lse,
                                                           int T, int C, int NH, float scale) {
    constexpr int HS = ATT_DPT * TPR;
    __shared__ __align__(16) float Ks[ATT_BC * HS]; // (ATT_BC, HS)
    __shared__ __align__(16) float Vs[ATT_BC * HS]; // (ATT_BC, HS)
    int hs = C / NH;
    int bh = blockIdx.x, b = bh / NH, h = bh % NH;
    int t0 = (gridDim.y - 1 - blockIdx.y) * ATT_BR;
    int tq = threadIdx.x % TPR;
    int t = t0 + threadIdx.x / TPR;
    bool active = t < T;
    size_t C3 = 3 * (size_t)C;
    size_t bt = (size_t)b * T + t;
    const float* qh = qkv + (size_t)b * T * C3 + (size_t)h * hs;
    const float* kh = qh + C;
    const float* vh = qh + 2 * (size_t)C;

    float q[ATT_DPT], dO[ATT_DPT], dq[ATT_DPT];
    load_row<TPR>(q, qh + (size_t)t * C3, active, hs, tq);
    load_row<TPR>(dO, dout + bt * C + (size_t)h * hs, active, hs, tq);
    {
        float o[ATT_DPT];
        load_row<TPR>(o, out + bt * C + (size_t)h * hs, active, hs, tq);
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
#pragma unroll
        for (int c = 0; c < ATT_DPT / 4; c++) {
            s0 += dO[4 * c] * o[4 * c];
            s1 += dO[4 * c + 1] * o[4 * c + 1];
            s2 += dO[4 * c + 2] * o[4 * c + 2];
            s3 += dO[4 * c + 3] * o[4 * c + 3];
        }
        dq[0] = group_sum<TPR>((s0 + s1) + (s2 + s3)); // D, kept in dq[0] until the loop
    }
    float D = dq[0];
    float L = active ? lse[(size_t)bh * T + t] : 0.0f;
    if (active && tq == 0) Dg[(size_t)bh * T + t] = D;
#pragma unroll
    for (int i = 0; i < ATT_DPT; i++) dq[i] = 0.0f;

    int kEnd = min(T, t0 + ATT_BR);
    for (int k0 = 0; k0 < kEnd; k0 += ATT_BC) {
        __syncthreads();
        load_tile<HS>(Ks, kh, C3, k0, ATT_BC, T, hs);
        load_tile<HS>(Vs, vh, C3, k0, ATT_BC, T, hs);
        __syncthreads();
#pragma unroll 1
        for (int k = 0; k < ATT_BC; k++) {
            float sk = dot_row<TPR>(q, Ks + k * HS, tq) * scale;
            float dp = dot_row<TPR>(dO, Vs + k * HS, tq);
            float p = (k0 + k <= t) ? expf(sk - L) : 0.0f;
            float ds = p * (dp - D) * scale;
            axpy_row<TPR>(dq, ds, Ks + k * HS, tq);
        }
    }
    if (active) store_row<TPR>(dqkv + bt * C3 + (size_t)h * hs, dq, 1.0f, hs, tq);
}

// attention_backward_dkdv: dk, dv parts of dqkv (B, T, 3C) (overwritten) from the same
// inputs and the dq kernel's Dg (B, NH, T):
//   dk = sum over queries i >= key of ds_i q_i,  dv = sum of p_i dout_i.
// One group per key row; queries i = t0.. T-1 in order over shared Q/dO tiles
// (with lse and D per query).
template <int TPR>
__device__ __forceinline__ void attention_backward_dkdv_impl(float* dqkv, const float* Dg, const float* dout,
                                                             const float* qkv, const float* lse, int T, int C,
                                                             int NH, float scale) {
    constexpr int HS = ATT_DPT * TPR;
    __shared__ __align__(16) float Qs[ATT_BQ * HS];  // (ATT_BQ, HS)
    __shared__ __align__(16) float dOs[ATT_BQ * HS]; // (ATT_BQ, HS)
    __shared__ float Ls[ATT_BQ], Ds[ATT_BQ];
    int hs = C / NH;
    int bh = blockIdx.x, b = bh / NH, h = bh % NH;
    int t0 = blockIdx.y * ATT_BR; // first key of the block: early keys have the most queries
    int tq = threadIdx.x % TPR;
    int j = t0 + threadIdx.x / TPR; // this group's key
    bool active = j < T;
    size_t C3 = 3 * (size_t)C;
    const float* qh = qkv + (size_t)b * T * C3 + (size_t)h * hs;
    const float* doh = dout + (size_t)b * T * C + (size_t)h * hs; // (T, hs), row stride C

    float k[ATT_DPT], v[ATT_DPT], dk[ATT_DPT], dv[ATT_DPT];
    load_row<TPR>(k, qh + C + (size_t)j * C3, active, hs, tq);
    load_row<TPR>(v, qh + 2 * (size_t)C + (size_t)j * C3, active, hs, tq);
#pragma unroll
    for (int i = 0; i < ATT_DPT; i++) {
        dk[i] = 0.0f;
        dv[i] = 0.0f;
    }

    for (int i0 = t0; i0 < T; i0 += ATT_BQ) {
        __syncthreads();
        load_tile<HS>(Qs, qh, C3, i0, ATT_BQ, T, hs);
        load_tile<HS>(dOs, doh, C, i0, ATT_BQ, T, hs);
        for (int i = threadIdx.x; i < ATT_BQ; i += blockDim.x) {
            int ti = i0 + i;
            Ds[i] = ti < T ? Dg[(size_t)bh * T + ti] : 0.0f;
            Ls[i] = ti < T ? lse[(size_t)bh * T + ti] : 0.0f;
        }
        __syncthreads();
#pragma unroll 1
        for (int i = 0; i < ATT_BQ; i++) {
            int ti = i0 + i;
            float sk = dot_row<TPR>(k, Qs + i * HS, tq) * scale;
            float dp = dot_row<TPR>(v, dOs + i * HS, tq);
            float p = (ti >= j && ti < T) ? expf(sk - Ls[i]) : 0.0f;
            float ds = p * (dp - Ds[i]) * scale;
            axpy_row<TPR>(dv, p, dOs + i * HS, tq);
            axpy_row<TPR>(dk, ds, Qs + i * HS, tq);
        }
    }
    if (active) {
        float* dst = dqkv + ((size_t)b * T + j) * C3 + (size_t)h * hs;
        store_row<TPR>(dst + C, dk, 1.0f, hs, tq);
        store_row<TPR>(dst + 2 * (size_t)C, dv, 1.0f, hs, tq);
    }
}

// The launchable kernels, one set per head-size bound. Block ATT_BR*TPR threads;
// grid (B*NH, ceil(T/ATT_BR)).
#define ATT_KERNELS(TPR, SUFFIX)                                                                                    \
    extern "C" __global__ void __launch_bounds__(ATT_BR * TPR)                                                    \
        attention_forward_##SUFFIX(float* out, float* lse, const float* qkv, int T, int C, int NH, float scale) { \
        attention_forward_impl<TPR>(out, lse, qkv, T, C, NH, scale);                                              \
    }                                                                                                             \
    extern "C" __global__ void __launch_bounds__(ATT_BR * TPR)                                                    \
        attention_backward_dq_##SUFFIX(float* dqkv, float* Dg, const float* dout, const float* qkv,              \
                                       const float* out, const float* lse, int T, int C, int NH, float scale) {  \
        attention_backward_dq_impl<TPR>(dqkv, Dg, dout, qkv, out, lse, T, C, NH, scale);                          \
    }                                                                                                             \
    extern "C" __global__ void __launch_bounds__(ATT_BR * TPR)                                                    \
        attention_backward_dkdv_##SUFFIX(float* dqkv, const float* Dg, const float* dout, const float* qkv,      \
                                         const float* lse, int T, int C, int NH, float scale) {                   \
        attention_backward_dkdv_impl<TPR>(dqkv, Dg, dout, qkv, lse, T, C, NH, scale);                             \
    }

ATT_KERNELS(1, hs32)
ATT_KERNELS(2, hs64)
ATT_KERNELS(4, hs128)

// The backward on tensor cores (TF32, Ops.attentionBackwardGemm): cuBLAS
// computes S = scale QKᵀ and dP = dO Vᵀ per head into (NH, T, T) scratch;
// this kernel turns them into P and dS between the GEMMs.

// attention_bwd_scores: per row (h, t) of S and dP (one block each), over keys
// j <= t: L = log-sum-exp of S's row, P = expf(S - L), D = sum of P dP; then
// over all j < T: P (0 where j > t) written over S, dS = P (dP - D) scale
// written over dP. P is normalised from the row's own S rather than the
// forward's lse, and D (= dout.out) taken from the same dP, so that the TF32
// errors of S and dP cancel where they would otherwise be amplified by exp
// (with one key, P = 1 and dS = 0 exactly). blockDim.x is a multiple of 32;
// every thread reaches every block reduction.
extern "C" __global__ void attention_bwd_scores(float* S, float* dP, int T, float scale) {
    __shared__ float fscratch[32];
    __shared__ double dscratch[32];
    int row = blockIdx.x; // h*T + t
    int t = row % T;
    float* s = S + (size_t)row * T;
    float* dp = dP + (size_t)row * T;
    float m = -INFINITY;
    for (int j = threadIdx.x; j <= t; j += blockDim.x) m = fmaxf(m, s[j]);
    m = block_max_f(m, fscratch);
    double sum = 0.0;
    for (int j = threadIdx.x; j <= t; j += blockDim.x) sum += (double)expf(s[j] - m);
    sum = block_sum_d(sum, dscratch);
    float L = m + (float)log(sum);
    double d = 0.0;
    for (int j = threadIdx.x; j <= t; j += blockDim.x) d += (double)expf(s[j] - L) * (double)dp[j];
    float D = (float)block_sum_d(d, dscratch);
    for (int j = threadIdx.x; j < T; j += blockDim.x) {
        float p = j <= t ? expf(s[j] - L) : 0.0f;
        s[j] = p;
        dp[j] = p * (dp[j] - D) * scale;
    }
}
