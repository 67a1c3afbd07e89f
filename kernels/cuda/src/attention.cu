// Attention: causal multi-head attention, a fused online-softmax forward and a backward recomputing p from lse.
//
// The fused kernels keep no (T, T) matrix in device memory and use no atomics;
// the backward passes D = dout.out from its dq kernel to its dk/dv kernel through
// a (B, NH, T) buffer. (The TF32 backward's helper kernel, at the end, works on
// (NH, T, T) score matrices that cuBLAS fills.)
// Layout: qkv (B, T, 3C) as [q | k | v] per token, heads of size hs = C/NH at
// offset h*hs of each part; out (B, T, C); lse (B, NH, T).
//
// Tiles: a block takes 64 rows (queries, or keys in the dk/dv kernel) of one
// (b, h) and walks the other side in tiles of 64, staging both in shared
// memory (dynamic: the Go launcher sizes it with the same formulas, att*Floats
// in attention.go). Every product of two tiles is a 64 x 64 x K matrix product
// in which thread (ty, tx) = (tid / 16, tid % 16) of the 256 accumulates rows
// 4ty..4ty+3 and columns 4tx..4tx+3 (+ 64c for the c-th 64 of a head's
// columns) in registers, reading float4s of shared memory: 16 FMAs per two
// loads, which keeps the FP32 units, not shared memory, the limit. Heads are
// padded with zeros to HS = 64 or 128 (hs = C/NH at most 128: MaxHeadSize on
// the Go side); rows past T are zero and masked.
//
// Shared layouts: "rows" tiles are row-major with HS + 4 floats per row (the
// padding puts the two row groups a warp reads in different banks), "cols"
// tiles are transposed, (HS, 64), and score tiles are (64, 68) or (64, 64).
// Every sum runs in a fixed order: results are run-to-run deterministic.
#include "common.cuh"

#define ATT_TILE 64     // rows of a block, and of each tile it walks
#define ATT_THREADS 256 // 16 x 16 threads, a 4 x 4 register tile each
#define ATT_PAD 4       // floats of padding per row of a "rows" tile
#define ATT_SLD (ATT_TILE + ATT_PAD)

// att_rows: dst (64, HS + 4) = rows r0.. of a head slice src (T rows, stride
// floats apart), zero past T and hs. Consecutive threads read consecutive floats.
template <int HS>
__device__ __forceinline__ void att_rows(float* dst, const float* src, size_t stride, int r0, int T, int hs) {
    for (int e = threadIdx.x; e < ATT_TILE * HS; e += ATT_THREADS) {
        int r = e / HS, d = e % HS, t = r0 + r;
        dst[r * (HS + ATT_PAD) + d] = (t < T && d < hs) ? src[(size_t)t * stride + d] : 0.0f;
    }
}

// att_cols: dst (HS, 64) = the same rows transposed; consecutive threads write
// consecutive shared floats (the reads of a warp share cache lines across d).
template <int HS>
__device__ __forceinline__ void att_cols(float* dst, const float* src, size_t stride, int r0, int T, int hs) {
    for (int e = threadIdx.x; e < ATT_TILE * HS; e += ATT_THREADS) {
        int r = e % ATT_TILE, d = e / ATT_TILE, t = r0 + r;
        dst[d * ATT_TILE + r] = (t < T && d < hs) ? src[(size_t)t * stride + d] : 0.0f;
    }
}

// att_plain: dst (64, HS) = the same rows, row-major without padding.
template <int HS>
__device__ __forceinline__ void att_plain(float* dst, const float* src, size_t stride, int r0, int T, int hs) {
    for (int e = threadIdx.x; e < ATT_TILE * HS; e += ATT_THREADS) {
        int r = e / HS, d = e % HS, t = r0 + r;
        dst[e] = (t < T && d < hs) ? src[(size_t)t * stride + d] : 0.0f;
    }
}

// fma4x4: acc[a][b] += x[a] * y[b].
__device__ __forceinline__ void fma4x4(float (&acc)[4][4], const float (&x)[4], float4 y) {
#pragma unroll
    for (int a = 0; a < 4; a++) {
        acc[a][0] += x[a] * y.x;
        acc[a][1] += x[a] * y.y;
        acc[a][2] += x[a] * y.z;
        acc[a][3] += x[a] * y.w;
    }
}

// mm_rows: acc[a][b] += sum over k < K of A[4ty+a][k] * B[k][4tx+b], A row-major
// (lda floats a row), B k-major (ldb floats a row); k in order.
template <int K>
__device__ __forceinline__ void mm_rows(float (&acc)[4][4], const float* A, int lda, const float* B, int ldb) {
    int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
    const float* a0 = A + 4 * ty * lda;
    const float* b0 = B + 4 * tx;
#pragma unroll 4
    for (int k = 0; k < K; k += 4) {
        float4 r[4];
#pragma unroll
        for (int a = 0; a < 4; a++) r[a] = *reinterpret_cast<const float4*>(a0 + a * lda + k);
        float x[4][4] = {{r[0].x, r[1].x, r[2].x, r[3].x},
                         {r[0].y, r[1].y, r[2].y, r[3].y},
                         {r[0].z, r[1].z, r[2].z, r[3].z},
                         {r[0].w, r[1].w, r[2].w, r[3].w}};
#pragma unroll
        for (int kk = 0; kk < 4; kk++) fma4x4(acc, x[kk], *reinterpret_cast<const float4*>(b0 + (k + kk) * ldb));
    }
}

// mm_cols: acc[a][b] += sum over k < 64 of A[k][4ty+a] * B[k][4tx+b], both
// k-major; k in order.
__device__ __forceinline__ void mm_cols(float (&acc)[4][4], const float* A, int lda, const float* B, int ldb) {
    int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
#pragma unroll 4
    for (int k = 0; k < ATT_TILE; k++) {
        float4 r = *reinterpret_cast<const float4*>(A + k * lda + 4 * ty);
        float x[4] = {r.x, r.y, r.z, r.w};
        fma4x4(acc, x, *reinterpret_cast<const float4*>(B + k * ldb + 4 * tx));
    }
}

// row_max16 / row_sum16: over the 16 threads of a row group (one half warp),
// every lane getting the same bits.
__device__ __forceinline__ float row_max16(float x) {
#pragma unroll
    for (int o = 1; o < 16; o <<= 1) x = fmaxf(x, __shfl_xor_sync(FULL_MASK, x, o));
    return x;
}
__device__ __forceinline__ float row_sum16(float x) {
#pragma unroll
    for (int o = 1; o < 16; o <<= 1) x += __shfl_xor_sync(FULL_MASK, x, o);
    return x;
}

// zero: acc = 0.
template <int N>
__device__ __forceinline__ void zero(float (&acc)[N][4][4]) {
#pragma unroll
    for (int c = 0; c < N; c++)
#pragma unroll
        for (int a = 0; a < 4; a++)
#pragma unroll
            for (int b = 0; b < 4; b++) acc[c][a][b] = 0.0f;
}

// store_head: dst rows r0+4ty+a (stride floats apart, head columns 64c+4tx+b
// < hs, rows < T) = mul[a] * acc[c][a][b].
template <int NC>
__device__ __forceinline__ void store_head(float* dst, size_t stride, const float (&acc)[NC][4][4],
                                           const float (&mul)[4], int r0, int T, int hs) {
    int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
#pragma unroll
    for (int a = 0; a < 4; a++) {
        int t = r0 + 4 * ty + a;
        if (t >= T) continue;
#pragma unroll
        for (int c = 0; c < NC; c++)
#pragma unroll
            for (int b = 0; b < 4; b++) {
                int d = 64 * c + 4 * tx + b;
                if (d < hs) dst[(size_t)t * stride + d] = mul[a] * acc[c][a][b];
            }
    }
}

// Shared floats of each kernel, in the order of their tiles below (the Go
// launcher computes the same: attForwardFloats, attDqFloats, attDkdvFloats).
#define ATT_FWD_FLOATS(HS) (ATT_TILE * ((HS) + ATT_PAD) + (HS) * ATT_TILE + ATT_TILE * (HS) + ATT_TILE * ATT_SLD)
#define ATT_DQ_FLOATS(HS) (2 * ATT_TILE * ((HS) + ATT_PAD) + 3 * (HS) * ATT_TILE + ATT_TILE * ATT_SLD)
#define ATT_DKDV_FLOATS(HS) (2 * (HS) * ATT_TILE + 2 * ATT_TILE * ((HS) + ATT_PAD) + 2 * ATT_TILE * ATT_TILE + 2 * ATT_TILE)

// attention_forward: out (B, T, C), lse (B, NH, T) from qkv (B, T, 3C); scale = 1/sqrt(hs).
// Block (b*NH + h, query tile): per key tile up to the diagonal, S = Q Kᵀ
// (64 x 64) in registers, the online softmax (each thread keeps its rows'
// running max and its own columns' share of the denominator, rescaled as the
// max moves), P to shared memory, O += P V. Work: queries t0.. read keys 0..t0+63.
template <int HS>
__device__ __forceinline__ void attention_forward_impl(float* out, float* lse, const float* qkv, int T, int C,
                                                       int NH, float scale) {
    constexpr int NC = HS / 64, LD = HS + ATT_PAD;
    DYNAMIC_SHARED_FLOATS(sm);
    float* Qs = sm;                  // (64, HS + 4) rows
    float* Kt = Qs + ATT_TILE * LD;  // (HS, 64) cols
    float* Vs = Kt + HS * ATT_TILE;  // (64, HS) plain
    float* Ps = Vs + ATT_TILE * HS;  // (64, 68) probabilities
    int hs = C / NH;
    int bh = blockIdx.x, b = bh / NH, h = bh % NH;
    int qt = gridDim.y - 1 - blockIdx.y; // the longest rows first
    int t0 = qt * ATT_TILE;
    int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
    size_t C3 = 3 * (size_t)C;
    const float* qh = qkv + (size_t)b * T * C3 + (size_t)h * hs; // (T, hs), row stride 3C
    const float* kh = qh + C;
    const float* vh = qh + 2 * (size_t)C;

    att_rows<HS>(Qs, qh, C3, t0, T, hs);
    float o[NC][4][4], m[4], l[4];
    zero<NC>(o);
#pragma unroll
    for (int a = 0; a < 4; a++) {
        m[a] = -INFINITY;
        l[a] = 0.0f;
    }
    for (int kt = 0; kt <= qt; kt++) {
        int k0 = kt * ATT_TILE;
        __syncthreads(); // the previous tile's K, V and P are no longer read
        att_cols<HS>(Kt, kh, C3, k0, T, hs);
        att_plain<HS>(Vs, vh, C3, k0, T, hs);
        __syncthreads();
        float s[4][4] = {};
        mm_rows<HS>(s, Qs, LD, Kt, ATT_TILE);
#pragma unroll
        for (int a = 0; a < 4; a++) {
            int i = t0 + 4 * ty + a;
            float mx = -INFINITY;
#pragma unroll
            for (int c = 0; c < 4; c++) {
                int j = k0 + 4 * tx + c;
                s[a][c] = j > i ? -INFINITY : s[a][c] * scale; // causal; keys past T are past every row < T
                mx = fmaxf(mx, s[a][c]);
            }
            // Key 0 is in the first tile and masks for no row, so mnew is finite.
            float mnew = fmaxf(m[a], row_max16(mx));
            float corr = expf(m[a] - mnew);
            float sum = 0.0f;
#pragma unroll
            for (int c = 0; c < 4; c++) {
                s[a][c] = expf(s[a][c] - mnew);
                sum += s[a][c];
            }
            l[a] = l[a] * corr + sum;
            m[a] = mnew;
#pragma unroll
            for (int c = 0; c < NC; c++)
#pragma unroll
                for (int e = 0; e < 4; e++) o[c][a][e] *= corr;
            *reinterpret_cast<float4*>(Ps + (4 * ty + a) * ATT_SLD + 4 * tx) = make_float4(s[a][0], s[a][1], s[a][2], s[a][3]);
        }
        __syncthreads();
#pragma unroll
        for (int c = 0; c < NC; c++) mm_rows<ATT_TILE>(o[c], Ps, ATT_SLD, Vs + 64 * c, HS);
    }
    float inv[4];
#pragma unroll
    for (int a = 0; a < 4; a++) {
        float L = row_sum16(l[a]);
        inv[a] = 1.0f / L;
        int t = t0 + 4 * ty + a;
        if (tx == 0 && t < T) lse[(size_t)bh * T + t] = m[a] + logf(L);
    }
    store_head<NC>(out + (size_t)b * T * C + (size_t)h * hs, C, o, inv, t0, T, hs);
}

// attention_backward_dq: the dq part of dqkv (B, T, 3C) (overwritten) and Dg
// (B, NH, T) from dout (B, T, C), qkv, out (B, T, C) and lse (B, NH, T):
//   P = exp(scale Q Kᵀ - lse), dS = P (dO Vᵀ - D) scale, D = rowsum(dO out),  dQ = dS K.
// Block (b*NH + h, query tile); key tiles up to the diagonal, in order.
template <int HS>
__device__ __forceinline__ void attention_backward_dq_impl(float* dqkv, float* Dg, const float* dout,
                                                           const float* qkv, const float* out, const float* lse,
                                                           int T, int C, int NH, float scale) {
    constexpr int NC = HS / 64, LD = HS + ATT_PAD;
    DYNAMIC_SHARED_FLOATS(sm);
    float* Qs = sm;                   // (64, HS + 4) rows
    float* dOs = Qs + ATT_TILE * LD;  // (64, HS + 4) rows
    float* Kt = dOs + ATT_TILE * LD;  // (HS, 64) cols
    float* Ks = Kt + HS * ATT_TILE;   // (64, HS) plain
    float* Vt = Ks + ATT_TILE * HS;   // (HS, 64) cols
    float* dSs = Vt + HS * ATT_TILE;  // (64, 68) score gradients
    int hs = C / NH;
    int bh = blockIdx.x, b = bh / NH, h = bh % NH;
    int qt = gridDim.y - 1 - blockIdx.y;
    int t0 = qt * ATT_TILE;
    int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
    size_t C3 = 3 * (size_t)C;
    const float* qh = qkv + (size_t)b * T * C3 + (size_t)h * hs;
    const float* kh = qh + C;
    const float* vh = qh + 2 * (size_t)C;
    const float* doh = dout + (size_t)b * T * C + (size_t)h * hs; // (T, hs), row stride C
    const float* oh = out + (size_t)b * T * C + (size_t)h * hs;

    att_rows<HS>(Qs, qh, C3, t0, T, hs);
    att_rows<HS>(dOs, doh, C, t0, T, hs);
    __syncthreads();
    // D per row, summed over k in mm_rows' order, so that where out == v (one
    // key: T = 1, or the first query) dO.v - D is exactly 0; the dk/dv kernel
    // reads it from Dg for that reason.
    float D[4], L[4];
#pragma unroll
    for (int a = 0; a < 4; a++) {
        int r = 4 * ty + a, t = t0 + r;
        float sum = 0.0f;
        if (t < T)
            for (int d = 0; d < hs; d++) sum += dOs[r * LD + d] * oh[(size_t)t * C + d];
        D[a] = sum;
        L[a] = t < T ? lse[(size_t)bh * T + t] : 0.0f;
        if (tx == 0 && t < T) Dg[(size_t)bh * T + t] = D[a];
    }
    float dq[NC][4][4];
    zero<NC>(dq);
    for (int kt = 0; kt <= qt; kt++) {
        int k0 = kt * ATT_TILE;
        __syncthreads();
        att_cols<HS>(Kt, kh, C3, k0, T, hs);
        att_plain<HS>(Ks, kh, C3, k0, T, hs);
        att_cols<HS>(Vt, vh, C3, k0, T, hs);
        __syncthreads();
        float s[4][4] = {}, dp[4][4] = {};
        mm_rows<HS>(s, Qs, LD, Kt, ATT_TILE);
        mm_rows<HS>(dp, dOs, LD, Vt, ATT_TILE);
#pragma unroll
        for (int a = 0; a < 4; a++) {
            int i = t0 + 4 * ty + a;
            float ds[4];
#pragma unroll
            for (int c = 0; c < 4; c++) {
                int j = k0 + 4 * tx + c;
                float p = (j <= i && i < T) ? expf(s[a][c] * scale - L[a]) : 0.0f;
                ds[c] = p * (dp[a][c] - D[a]) * scale;
            }
            *reinterpret_cast<float4*>(dSs + (4 * ty + a) * ATT_SLD + 4 * tx) = make_float4(ds[0], ds[1], ds[2], ds[3]);
        }
        __syncthreads();
#pragma unroll
        for (int c = 0; c < NC; c++) mm_rows<ATT_TILE>(dq[c], dSs, ATT_SLD, Ks + 64 * c, HS);
    }
    const float one[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    store_head<NC>(dqkv + (size_t)b * T * C3 + (size_t)h * hs, C3, dq, one, t0, T, hs);
}

// attention_backward_dkdv: the dk and dv parts of dqkv (B, T, 3C) (overwritten)
// from the same inputs and the dq kernel's Dg (B, NH, T):
//   dK = dSᵀ Q,  dV = Pᵀ dO, over the queries at or after each key.
// Block (b*NH + h, key tile); query tiles from the diagonal on, in order.
template <int HS>
__device__ __forceinline__ void attention_backward_dkdv_impl(float* dqkv, const float* Dg, const float* dout,
                                                             const float* qkv, const float* lse, int T, int C,
                                                             int NH, float scale) {
    constexpr int NC = HS / 64, LD = HS + ATT_PAD;
    DYNAMIC_SHARED_FLOATS(sm);
    float* Kt = sm;                   // (HS, 64) cols
    float* Vt = Kt + HS * ATT_TILE;   // (HS, 64) cols
    float* Qs = Vt + HS * ATT_TILE;   // (64, HS + 4) rows
    float* dOs = Qs + ATT_TILE * LD;  // (64, HS + 4) rows
    float* Ps = dOs + ATT_TILE * LD;  // (64, 64): P[query][key]
    float* dSs = Ps + ATT_TILE * ATT_TILE; // (64, 64): dS[query][key]
    float* Ls = dSs + ATT_TILE * ATT_TILE; // (64) lse of the query tile
    float* Ds = Ls + ATT_TILE;             // (64) D of the query tile
    int hs = C / NH;
    int bh = blockIdx.x, b = bh / NH, h = bh % NH;
    int kt = blockIdx.y; // early keys have the most queries
    int k0 = kt * ATT_TILE;
    int nt = gridDim.y;
    int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
    size_t C3 = 3 * (size_t)C;
    const float* qh = qkv + (size_t)b * T * C3 + (size_t)h * hs;
    const float* kh = qh + C;
    const float* vh = qh + 2 * (size_t)C;
    const float* doh = dout + (size_t)b * T * C + (size_t)h * hs;

    att_cols<HS>(Kt, kh, C3, k0, T, hs);
    att_cols<HS>(Vt, vh, C3, k0, T, hs);
    float dk[NC][4][4], dv[NC][4][4];
    zero<NC>(dk);
    zero<NC>(dv);
    for (int qt = kt; qt < nt; qt++) {
        int t0 = qt * ATT_TILE;
        __syncthreads();
        att_rows<HS>(Qs, qh, C3, t0, T, hs);
        att_rows<HS>(dOs, doh, C, t0, T, hs);
        for (int r = threadIdx.x; r < ATT_TILE; r += ATT_THREADS) {
            int t = t0 + r;
            Ls[r] = t < T ? lse[(size_t)bh * T + t] : 0.0f;
            Ds[r] = t < T ? Dg[(size_t)bh * T + t] : 0.0f;
        }
        __syncthreads();
        float s[4][4] = {}, dp[4][4] = {};
        mm_rows<HS>(s, Qs, LD, Kt, ATT_TILE);
        mm_rows<HS>(dp, dOs, LD, Vt, ATT_TILE);
#pragma unroll
        for (int a = 0; a < 4; a++) {
            int r = 4 * ty + a, i = t0 + r;
            float p[4], ds[4];
#pragma unroll
            for (int c = 0; c < 4; c++) {
                int j = k0 + 4 * tx + c;
                p[c] = (j <= i && i < T) ? expf(s[a][c] * scale - Ls[r]) : 0.0f;
                ds[c] = p[c] * (dp[a][c] - Ds[r]) * scale;
            }
            *reinterpret_cast<float4*>(Ps + r * ATT_TILE + 4 * tx) = make_float4(p[0], p[1], p[2], p[3]);
            *reinterpret_cast<float4*>(dSs + r * ATT_TILE + 4 * tx) = make_float4(ds[0], ds[1], ds[2], ds[3]);
        }
        __syncthreads();
#pragma unroll
        for (int c = 0; c < NC; c++) {
            mm_cols(dv[c], Ps, ATT_TILE, dOs + 64 * c, LD);
            mm_cols(dk[c], dSs, ATT_TILE, Qs + 64 * c, LD);
        }
    }
    const float one[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    float* dst = dqkv + (size_t)b * T * C3 + (size_t)h * hs;
    store_head<NC>(dst + C, C3, dk, one, k0, T, hs);
    store_head<NC>(dst + 2 * (size_t)C, C3, dv, one, k0, T, hs);
}

// The launchable kernels, one set per padded head size HS: 256 threads,
// grid (B*NH, ceil(T/64)), ATT_*_FLOATS(HS) floats of dynamic shared memory.
#define ATT_KERNELS(HS)                                                                                           \
    extern "C" __global__ void __launch_bounds__(ATT_THREADS)                                                     \
        attention_forward_hs##HS(float* out, float* lse, const float* qkv, int T, int C, int NH, float scale) {  \
        attention_forward_impl<HS>(out, lse, qkv, T, C, NH, scale);                                               \
    }                                                                                                             \
    extern "C" __global__ void __launch_bounds__(ATT_THREADS)                                                     \
        attention_backward_dq_hs##HS(float* dqkv, float* Dg, const float* dout, const float* qkv,                \
                                     const float* out, const float* lse, int T, int C, int NH, float scale) {    \
        attention_backward_dq_impl<HS>(dqkv, Dg, dout, qkv, out, lse, T, C, NH, scale);                           \
    }                                                                                                             \
    extern "C" __global__ void __launch_bounds__(ATT_THREADS)                                                     \
        attention_backward_dkdv_hs##HS(float* dqkv, const float* Dg, const float* dout, const float* qkv,        \
                                       const float* lse, int T, int C, int NH, float scale) {                     \
        attention_backward_dkdv_impl<HS>(dqkv, Dg, dout, qkv, lse, T, C, NH, scale);                              \
    }

ATT_KERNELS(64)
ATT_KERNELS(128)

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
