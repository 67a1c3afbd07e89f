// Attention: causal multi-head attention on tensor cores, a fused online-softmax forward and a backward recomputing p from lse.
//
// The kernels keep no (T, T) matrix in device memory and use no atomics; the
// backward passes D = dout.out from its dq kernel to its dk/dv kernel through a
// (B, NH, T) buffer.
// Layout: qkv (B, T, 3C) as [q | k | v] per token, heads of size hs = C/NH at
// offset h*hs of each part; out (B, T, C); lse (B, NH, T).
//
// Tiles: a block of 4 warps takes 64 rows (queries, or keys in the dk/dv
// kernel) of one (b, h), 16 per warp, and walks the other side in tiles of
// 64, staged row-major in shared memory (dynamic: the Go launcher sizes it
// with the same formulas, newAttnVariant in attention.go). Heads are padded
// with zeros to HS = 16, 32, 64 or 128 (hs = C/NH at most 128: MaxHeadSize
// on the Go side); rows past T are zero and masked. Every product is a warp's
// mma.m16n8k8 over TF32 operands (common.cuh). X3 (the FP32 kernels) splits
// each operand x into hi = tf32(x) and lo = tf32(x - hi) and sums lo*hi +
// hi*lo + hi*hi: about 21 bits of each product instead of 11, the error of
// an FP32 dot product (CUTLASS's 3xTF32, which PyTorch's memory-efficient
// attention uses for float32). Their rounding takes integer ops, not cvt. Every sum runs in a fixed order: results are
// run-to-run deterministic.
#include "common.cuh"

#define ATT_TILE 64    // rows of a block, and of each tile it walks
#define ATT_THREADS 128 // 4 warps of 16 rows
#define ATT_PAD 4      // floats of padding per shared row: conflict-free fragment loads
#define ATT_SLD (ATT_TILE + ATT_PAD)

// att_load: dst (64, HS + 4) = rows r0.. of a head slice src (T rows, stride
// floats apart), zero past T and hs. Each thread issues its loads in batches
// of ATT_BATCH before storing them, so that a tile costs a few memory
// latencies, not one per element: float4s where src, stride and hs allow,
// else floats.
#define ATT_BATCH 4
template <int HS>
__device__ __forceinline__ void att_load(float* dst, const float* src, size_t stride, int r0, int T, int hs) {
    constexpr int LD = HS + ATT_PAD;
    if (hs % 4 == 0 && stride % 4 == 0 && reinterpret_cast<size_t>(src) % 16 == 0) {
        constexpr int Q = HS / 4, N = ATT_TILE * Q / ATT_THREADS; // float4s per row, per thread
        constexpr int NB = N < ATT_BATCH ? N : ATT_BATCH;
#pragma unroll 1
        for (int i0 = 0; i0 < N; i0 += NB) {
            float4 v[NB];
#pragma unroll
            for (int i = 0; i < NB; i++) {
                int e = threadIdx.x + (i0 + i) * ATT_THREADS, t = r0 + e / Q, d = 4 * (e % Q);
                v[i] = (t < T && d < hs) ? *reinterpret_cast<const float4*>(src + (size_t)t * stride + d)
                                         : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            }
#pragma unroll
            for (int i = 0; i < NB; i++) {
                int e = threadIdx.x + (i0 + i) * ATT_THREADS;
                *reinterpret_cast<float4*>(dst + (e / Q) * LD + 4 * (e % Q)) = v[i];
            }
        }
        return;
    }
    constexpr int N = ATT_TILE * HS / ATT_THREADS;
#pragma unroll 1
    for (int i0 = 0; i0 < N; i0 += ATT_BATCH) {
        float v[ATT_BATCH];
#pragma unroll
        for (int i = 0; i < ATT_BATCH; i++) {
            int e = threadIdx.x + (i0 + i) * ATT_THREADS, t = r0 + e / HS, d = e % HS;
            v[i] = (t < T && d < hs) ? src[(size_t)t * stride + d] : 0.0f;
        }
#pragma unroll
        for (int i = 0; i < ATT_BATCH; i++) {
            int e = threadIdx.x + (i0 + i) * ATT_THREADS;
            dst[(e / HS) * LD + e % HS] = v[i];
        }
    }
}

// split: hi = tf32(x), and with X3 the rest: hi toward zero, lo = x - hi
// (exact) rounded, so that hi + lo keeps about 21 of x's 24 bits.
template <bool X3, int N>
__device__ __forceinline__ void split(unsigned (&hi)[N], unsigned (&lo)[N], const float (&x)[N]) {
#pragma unroll
    for (int i = 0; i < N; i++) {
        hi[i] = X3 ? tf32_trunc(x[i]) : tf32_round(x[i]);
        lo[i] = X3 ? tf32_round(x[i] - __uint_as_float(hi[i])) : 0u;
    }
}

// mma_x: d += a b, in three products with X3 (the small ones first), else one.
template <bool X3>
__device__ __forceinline__ void mma_x(float (&d)[4], const unsigned (&ah)[4], const unsigned (&al)[4],
                                      const unsigned (&bh)[2], const unsigned (&bl)[2]) {
    if (X3) {
        mma_tf32(d, al, bh);
        mma_tf32(d, ah, bl);
    }
    mma_tf32(d, ah, bh);
}

// Fragments of lane (g, t) = (lane / 4, lane % 4) (PTX's m16n8k8 layouts):
// A (16 x 8) rows g, g+8 and columns t, t+4; B (8 x 8) rows t, t+4 and column
// g; the accumulator (16 x 8) rows g, g+8 and columns 2t, 2t+1, as
// acc[0..3] = (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1).

// frag_a: the A fragment of rows r0.. and columns k0.. of a row-major tile.
__device__ __forceinline__ void frag_a(float (&a)[4], const float* A, int ld, int r0, int k0) {
    int g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
    const float* p = A + (r0 + g) * ld + k0 + t;
    a[0] = p[0];
    a[1] = p[8 * ld];
    a[2] = p[4];
    a[3] = p[8 * ld + 4];
}

// mma_abt: acc (16 x 8NT) += A (rows r0.., K columns) times the transpose of
// Bs's rows 0..8NT-1 (K columns): the scores of 16 rows against 8NT tokens.
template <bool X3, int K, int NT>
__device__ __forceinline__ void mma_abt(float (&acc)[NT][4], const float* A, int lda, int r0, const float* Bs,
                                        int ldb) {
    int g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
#pragma unroll 2
    for (int k0 = 0; k0 < K; k0 += 8) {
        float a[4];
        unsigned ah[4], al[4];
        frag_a(a, A, lda, r0, k0);
        split<X3>(ah, al, a);
#pragma unroll
        for (int n = 0; n < NT; n++) {
            const float* p = Bs + (8 * n + g) * ldb + k0 + t;
            float b[2] = {p[0], p[4]};
            unsigned bh[2], bl[2];
            split<X3>(bh, bl, b);
            mma_x<X3>(acc[n], ah, al, bh, bl);
        }
    }
}

// mma_ab: acc (16 x 8NT) += A (rows r0.., 64 columns) times Bs (64 rows,
// columns 0..8NT-1): the weighted sum of 64 tokens' rows.
template <bool X3, int NT>
__device__ __forceinline__ void mma_ab(float (&acc)[NT][4], const float* A, int lda, int r0, const float* Bs,
                                       int ldb) {
    int g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
#pragma unroll 2
    for (int k0 = 0; k0 < ATT_TILE; k0 += 8) {
        float a[4];
        unsigned ah[4], al[4];
        frag_a(a, A, lda, r0, k0);
        split<X3>(ah, al, a);
#pragma unroll
        for (int n = 0; n < NT; n++) {
            const float* p = Bs + (k0 + t) * ldb + 8 * n + g;
            float b[2] = {p[0], p[4 * ldb]};
            unsigned bh[2], bl[2];
            split<X3>(bh, bl, b);
            mma_x<X3>(acc[n], ah, al, bh, bl);
        }
    }
}

// quad_max / quad_sum: over the 4 lanes (t) that share a fragment row, every
// lane getting the same bits.
__device__ __forceinline__ float quad_max(float x) {
    x = fmaxf(x, __shfl_xor_sync(FULL_MASK, x, 1));
    return fmaxf(x, __shfl_xor_sync(FULL_MASK, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
    x += __shfl_xor_sync(FULL_MASK, x, 1);
    return x + __shfl_xor_sync(FULL_MASK, x, 2);
}

// zero: acc = 0.
template <int NT>
__device__ __forceinline__ void zero(float (&acc)[NT][4]) {
#pragma unroll
    for (int n = 0; n < NT; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) acc[n][e] = 0.0f;
}

// store_rows: dst rows r0 + g (+8) (stride elements apart; rows < T, columns
// < hs) = mul[half] * acc, an accumulator of 16 rows and HS columns (rounded
// to bf16 once where dst is bf16).
template <int NT, typename E>
__device__ __forceinline__ void store_rows(E* dst, size_t stride, const float (&acc)[NT][4],
                                           const float (&mul)[2], int r0, int T, int hs) {
    int g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
#pragma unroll
    for (int e = 0; e < 4; e++) {
        int row = r0 + g + 8 * (e / 2);
        if (row >= T) continue;
#pragma unroll
        for (int n = 0; n < NT; n++) {
            int d = 8 * n + 2 * t + e % 2;
            if (d < hs) stf(dst + (size_t)row * stride + d, mul[e / 2] * acc[n][e]);
        }
    }
}

// put_rows: the warp's (16, 64) scratch tile (ATT_SLD floats a row) = acc.
__device__ __forceinline__ void put_rows(float* W, const float (&acc)[8][4]) {
    int g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
#pragma unroll
    for (int n = 0; n < 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) W[(g + 8 * (e / 2)) * ATT_SLD + 8 * n + 2 * t + e % 2] = acc[n][e];
}

// ---- bf16: loads, fragments and products of the *_bf16 kernels ----

// bf16x4: four bf16 in 8 bytes, the vector load of att_load's bf16 form.
struct __align__(8) bf16x4 {
    unsigned lo, hi; // elements 0, 1 (low half first) and 2, 3
};

// att_load (bf16 source): as the float form, each element widened exactly into
// the float tile; 8-byte loads of 4 elements where src, stride and hs allow.
template <int HS>
__device__ __forceinline__ void att_load(float* dst, const bf16* src, size_t stride, int r0, int T, int hs) {
    constexpr int LD = HS + ATT_PAD;
    if (hs % 4 == 0 && stride % 4 == 0 && reinterpret_cast<size_t>(src) % 8 == 0) {
        constexpr int Q = HS / 4, N = ATT_TILE * Q / ATT_THREADS; // 4-element groups per row, per thread
        constexpr int NB = N < ATT_BATCH ? N : ATT_BATCH;
#pragma unroll 1
        for (int i0 = 0; i0 < N; i0 += NB) {
            bf16x4 v[NB];
#pragma unroll
            for (int i = 0; i < NB; i++) {
                int e = threadIdx.x + (i0 + i) * ATT_THREADS, t = r0 + e / Q, d = 4 * (e % Q);
                v[i] = (t < T && d < hs) ? *reinterpret_cast<const bf16x4*>(src + (size_t)t * stride + d) : bf16x4{0u, 0u};
            }
#pragma unroll
            for (int i = 0; i < NB; i++) {
                int e = threadIdx.x + (i0 + i) * ATT_THREADS;
                *reinterpret_cast<float4*>(dst + (e / Q) * LD + 4 * (e % Q)) =
                    make_float4(__uint_as_float(v[i].lo << 16), __uint_as_float(v[i].lo & 0xffff0000u),
                                __uint_as_float(v[i].hi << 16), __uint_as_float(v[i].hi & 0xffff0000u));
            }
        }
        return;
    }
    constexpr int N = ATT_TILE * HS / ATT_THREADS;
#pragma unroll 1
    for (int i0 = 0; i0 < N; i0 += ATT_BATCH) {
        float v[ATT_BATCH];
#pragma unroll
        for (int i = 0; i < ATT_BATCH; i++) {
            int e = threadIdx.x + (i0 + i) * ATT_THREADS, t = r0 + e / HS, d = e % HS;
            v[i] = (t < T && d < hs) ? bf16_to_f32(src[(size_t)t * stride + d]) : 0.0f;
        }
#pragma unroll
        for (int i = 0; i < ATT_BATCH; i++) {
            int e = threadIdx.x + (i0 + i) * ATT_THREADS;
            dst[(e / HS) * LD + e % HS] = v[i];
        }
    }
}

// pack_bf16: two floats of a tile that are bf16 values (exact: the low 16 bits
// are zero) as one bf16x2 register, lo in the low half.
__device__ __forceinline__ unsigned pack_bf16(float lo, float hi) {
    return (__float_as_uint(lo) >> 16) | (__float_as_uint(hi) & 0xffff0000u);
}

// Fragments of lane (g, t) for m16n8k16 (PTX's layouts): A (16 x 16) a[0] =
// (g, 2t..2t+1), a[1] = (g+8, 2t..), a[2] = (g, 2t+8..), a[3] = (g+8, 2t+8..);
// B (16 x 8) b[0] = rows 2t, 2t+1 of column g, b[1] = rows 2t+8, 2t+9; the
// accumulator as m16n8k8's.

// frag_a16: the A fragment of rows r0.. and columns k0..k0+15 of a row-major float tile.
__device__ __forceinline__ void frag_a16(unsigned (&a)[4], const float* A, int ld, int r0, int k0) {
    int g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
    const float* p = A + (r0 + g) * ld + k0 + 2 * t;
    a[0] = pack_bf16(p[0], p[1]);
    a[1] = pack_bf16(p[8 * ld], p[8 * ld + 1]);
    a[2] = pack_bf16(p[8], p[9]);
    a[3] = pack_bf16(p[8 * ld + 8], p[8 * ld + 9]);
}

// mma_abt_bf16: mma_abt on bf16 tiles, k-steps of 16.
template <int K, int NT>
__device__ __forceinline__ void mma_abt_bf16(float (&acc)[NT][4], const float* A, int lda, int r0, const float* Bs,
                                             int ldb) {
    int g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
#pragma unroll 2
    for (int k0 = 0; k0 < K; k0 += 16) {
        unsigned a[4];
        frag_a16(a, A, lda, r0, k0);
#pragma unroll
        for (int n = 0; n < NT; n++) {
            const float* p = Bs + (8 * n + g) * ldb + k0 + 2 * t;
            const unsigned b[2] = {pack_bf16(p[0], p[1]), pack_bf16(p[8], p[9])};
            mma_bf16(acc[n], a, b);
        }
    }
}

// mma_ab_bf16: mma_ab on bf16 tiles, k-steps of 16.
template <int NT>
__device__ __forceinline__ void mma_ab_bf16(float (&acc)[NT][4], const float* A, int lda, int r0, const float* Bs,
                                            int ldb) {
    int g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
#pragma unroll 2
    for (int k0 = 0; k0 < ATT_TILE; k0 += 16) {
        unsigned a[4];
        frag_a16(a, A, lda, r0, k0);
#pragma unroll
        for (int n = 0; n < NT; n++) {
            const float* p = Bs + (k0 + 2 * t) * ldb + 8 * n + g;
            const unsigned b[2] = {pack_bf16(p[0], p[ldb]), pack_bf16(p[8 * ldb], p[9 * ldb])};
            mma_bf16(acc[n], a, b);
        }
    }
}

// put_rows_bf16: put_rows with every value rounded to bf16 (P and dS, before
// they are multiplied again).
__device__ __forceinline__ void put_rows_bf16(float* W, const float (&acc)[8][4]) {
    int g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
#pragma unroll
    for (int n = 0; n < 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++)
            W[(g + 8 * (e / 2)) * ATT_SLD + 8 * n + 2 * t + e % 2] = bf16_to_f32(f32_to_bf16(acc[n][e]));
}

// AttOps<X3, E>: the products of the kernels on elements E: float (3xTF32 with
// X3, else TF32) or bf16 (m16n8k16 on bf16, X3 unused).
template <bool X3, typename E>
struct AttOps {
    template <int K, int NT>
    static __device__ __forceinline__ void abt(float (&acc)[NT][4], const float* A, int lda, int r0, const float* Bs,
                                               int ldb) {
        mma_abt<X3, K, NT>(acc, A, lda, r0, Bs, ldb);
    }
    template <int NT>
    static __device__ __forceinline__ void ab(float (&acc)[NT][4], const float* A, int lda, int r0, const float* Bs,
                                              int ldb) {
        mma_ab<X3, NT>(acc, A, lda, r0, Bs, ldb);
    }
    static __device__ __forceinline__ void put(float* W, const float (&acc)[8][4]) { put_rows(W, acc); }
};
template <bool X3>
struct AttOps<X3, bf16> {
    template <int K, int NT>
    static __device__ __forceinline__ void abt(float (&acc)[NT][4], const float* A, int lda, int r0, const float* Bs,
                                               int ldb) {
        mma_abt_bf16<K, NT>(acc, A, lda, r0, Bs, ldb);
    }
    template <int NT>
    static __device__ __forceinline__ void ab(float (&acc)[NT][4], const float* A, int lda, int r0, const float* Bs,
                                              int ldb) {
        mma_ab_bf16<NT>(acc, A, lda, r0, Bs, ldb);
    }
    static __device__ __forceinline__ void put(float* W, const float (&acc)[8][4]) { put_rows_bf16(W, acc); }
};

// attention_forward: out (B, T, C), lse (B, NH, T) from qkv (B, T, 3C); scale = 1/sqrt(hs).
// Block (b*NH + h, query tile); per key tile up to the diagonal: S = Q Kᵀ
// (16 x 64 per warp) in registers, the online softmax (each lane keeps its two
// rows' running max and its own columns' share of the denominator, rescaled
// as the max moves), P through the warp's scratch, O += P V.
template <int HS, bool X3, typename E>
__device__ __forceinline__ void attention_forward_impl(E* out, float* lse, const E* qkv, int T, int C, int NH,
                                                       float scale) {
    typedef AttOps<X3, E> Ops;
    constexpr int LD = HS + ATT_PAD, NT = HS / 8;
    DYNAMIC_SHARED_FLOATS(sm);
    float* Qs = sm;                 // (64, LD)
    float* Ks = Qs + ATT_TILE * LD; // (64, LD)
    float* Vs = Ks + ATT_TILE * LD; // (64, LD)
    int w = threadIdx.x / 32, g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
    float* W = Vs + ATT_TILE * LD + w * 16 * ATT_SLD; // this warp's (16, 68) probabilities
    int hs = C / NH;
    int bh = blockIdx.x, b = bh / NH, h = bh % NH;
    int qt = gridDim.y - 1 - blockIdx.y; // the longest rows first
    int t0 = qt * ATT_TILE, r0 = 16 * w;
    size_t C3 = 3 * (size_t)C;
    const E* qh = qkv + (size_t)b * T * C3 + (size_t)h * hs; // (T, hs), row stride 3C
    const E* kh = qh + C;
    const E* vh = qh + 2 * (size_t)C;

    att_load<HS>(Qs, qh, C3, t0, T, hs);
    float o[NT][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
    zero<NT>(o);
    for (int kt = 0; kt <= qt; kt++) {
        int k0 = kt * ATT_TILE;
        __syncthreads(); // the previous tile is no longer read
        att_load<HS>(Ks, kh, C3, k0, T, hs);
        att_load<HS>(Vs, vh, C3, k0, T, hs);
        __syncthreads();
        if (t0 + r0 >= T) continue; // the warp's rows are all past T (it still takes every barrier)
        float s[8][4];
        zero<8>(s);
        Ops::template abt<HS, 8>(s, Qs, LD, r0, Ks, LD);
#pragma unroll
        for (int half = 0; half < 2; half++) {
            int i = t0 + r0 + g + 8 * half;
            float mx = -INFINITY;
#pragma unroll
            for (int n = 0; n < 8; n++)
#pragma unroll
                for (int c = 0; c < 2; c++) {
                    int j = k0 + 8 * n + 2 * t + c;
                    float v = j > i ? -INFINITY : s[n][2 * half + c] * scale; // causal; keys past T are past every row < T
                    s[n][2 * half + c] = v;
                    mx = fmaxf(mx, v);
                }
            // Key 0 is in the first tile and masks for no row, so mnew is finite.
            float mnew = fmaxf(m[half], quad_max(mx));
            float corr = expf(m[half] - mnew), sum = 0.0f;
#pragma unroll
            for (int n = 0; n < 8; n++)
#pragma unroll
                for (int c = 0; c < 2; c++) {
                    float p = expf(s[n][2 * half + c] - mnew);
                    s[n][2 * half + c] = p;
                    sum += p;
                }
            l[half] = l[half] * corr + sum;
            m[half] = mnew;
#pragma unroll
            for (int n = 0; n < NT; n++) {
                o[n][2 * half] *= corr;
                o[n][2 * half + 1] *= corr;
            }
        }
        Ops::put(W, s);
        __syncwarp();
        Ops::template ab<NT>(o, W, ATT_SLD, 0, Vs, LD);
    }
    float inv[2];
#pragma unroll
    for (int half = 0; half < 2; half++) {
        float L = quad_sum(l[half]);
        inv[half] = 1.0f / L;
        int row = t0 + r0 + g + 8 * half;
        if (t == 0 && row < T) lse[(size_t)bh * T + row] = m[half] + logf(L);
    }
    store_rows<NT>(out + (size_t)b * T * C + (size_t)h * hs, C, o, inv, t0 + r0, T, hs);
}

// attention_backward_dq: the dq part of dqkv (B, T, 3C) (overwritten) and Dg
// (B, NH, T) from dout (B, T, C), qkv, out (B, T, C) and lse (B, NH, T):
//   P = exp(scale Q Kᵀ - lse), dS = P (dO Vᵀ - D) scale, D = rowsum(dO out),  dQ = dS K.
// Block (b*NH + h, query tile); key tiles up to the diagonal, in order.
template <int HS, bool X3, typename E>
__device__ __forceinline__ void attention_backward_dq_impl(E* dqkv, float* Dg, const E* dout, const E* qkv,
                                                           const E* out, const float* lse, int T, int C, int NH,
                                                           float scale) {
    typedef AttOps<X3, E> Ops;
    constexpr int LD = HS + ATT_PAD, NT = HS / 8;
    DYNAMIC_SHARED_FLOATS(sm);
    float* Qs = sm;                   // (64, LD)
    float* dOs = Qs + ATT_TILE * LD;  // (64, LD)
    float* Ks = dOs + ATT_TILE * LD;  // (64, LD)
    float* Vs = Ks + ATT_TILE * LD;   // (64, LD)
    int w = threadIdx.x / 32, g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
    float* W = Vs + ATT_TILE * LD + w * 16 * ATT_SLD; // this warp's (16, 68) dS
    int hs = C / NH;
    int bh = blockIdx.x, b = bh / NH, h = bh % NH;
    int qt = gridDim.y - 1 - blockIdx.y;
    int t0 = qt * ATT_TILE, r0 = 16 * w;
    size_t C3 = 3 * (size_t)C;
    const E* qh = qkv + (size_t)b * T * C3 + (size_t)h * hs;
    const E* kh = qh + C;
    const E* vh = qh + 2 * (size_t)C;
    const E* doh = dout + (size_t)b * T * C + (size_t)h * hs; // (T, hs), row stride C
    const E* oh = out + (size_t)b * T * C + (size_t)h * hs;

    att_load<HS>(Qs, qh, C3, t0, T, hs);
    att_load<HS>(dOs, doh, C, t0, T, hs);
    att_load<HS>(Ks, oh, C, t0, T, hs); // out, until the first key tile
    __syncthreads();
    float D[2], L[2];
#pragma unroll
    for (int half = 0; half < 2; half++) {
        int r = r0 + g + 8 * half, row = t0 + r;
        float sum = 0.0f;
        for (int d = 0; d < hs; d++) sum += dOs[r * LD + d] * Ks[r * LD + d];
        D[half] = sum;
        L[half] = row < T ? lse[(size_t)bh * T + row] : 0.0f;
        if (t == 0 && row < T) Dg[(size_t)bh * T + row] = sum;
    }
    float dq[NT][4];
    zero<NT>(dq);
    for (int kt = 0; kt <= qt; kt++) {
        int k0 = kt * ATT_TILE;
        __syncthreads();
        att_load<HS>(Ks, kh, C3, k0, T, hs);
        att_load<HS>(Vs, vh, C3, k0, T, hs);
        __syncthreads();
        if (t0 + r0 >= T) continue; // the warp's rows are all past T
        float s[8][4], dp[8][4];
        zero<8>(s);
        zero<8>(dp);
        Ops::template abt<HS, 8>(s, Qs, LD, r0, Ks, LD);
        Ops::template abt<HS, 8>(dp, dOs, LD, r0, Vs, LD);
#pragma unroll
        for (int n = 0; n < 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int i = t0 + r0 + g + 8 * (e / 2), j = k0 + 8 * n + 2 * t + e % 2;
                float p = (j <= i && i < T) ? expf(s[n][e] * scale - L[e / 2]) : 0.0f;
                s[n][e] = p * (dp[n][e] - D[e / 2]) * scale;
            }
        Ops::put(W, s);
        __syncwarp();
        Ops::template ab<NT>(dq, W, ATT_SLD, 0, Ks, LD);
    }
    const float one[2] = {1.0f, 1.0f};
    store_rows<NT>(dqkv + (size_t)b * T * C3 + (size_t)h * hs, C3, dq, one, t0 + r0, T, hs);
}

// attention_backward_dkdv: the dk and dv parts of dqkv (B, T, 3C) (overwritten)
// from the same inputs and the dq kernel's Dg (B, NH, T):
//   dK = dSᵀ Q,  dV = Pᵀ dO, over the queries at or after each key.
// Block (b*NH + h, key tile), a warp per 16 keys; query tiles from the
// diagonal on, in order. Pᵀ and dSᵀ (keys x queries) come from K Qᵀ and V dOᵀ.
template <int HS, bool X3, typename E>
__device__ __forceinline__ void attention_backward_dkdv_impl(E* dqkv, const float* Dg, const E* dout, const E* qkv,
                                                             const float* lse, int T, int C, int NH, float scale) {
    typedef AttOps<X3, E> Ops;
    constexpr int LD = HS + ATT_PAD, NT = HS / 8;
    DYNAMIC_SHARED_FLOATS(sm);
    float* Ks = sm;                   // (64, LD)
    float* Vs = Ks + ATT_TILE * LD;   // (64, LD)
    float* Qs = Vs + ATT_TILE * LD;   // (64, LD)
    float* dOs = Qs + ATT_TILE * LD;  // (64, LD)
    float* Ls = dOs + ATT_TILE * LD;  // (64) lse of the query tile
    float* Ds = Ls + ATT_TILE;        // (64) D of the query tile
    int w = threadIdx.x / 32, g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
    float* Wp = Ds + ATT_TILE + w * 32 * ATT_SLD; // this warp's (16, 68) Pᵀ
    float* Wd = Wp + 16 * ATT_SLD;                // and (16, 68) dSᵀ
    int hs = C / NH;
    int bh = blockIdx.x, b = bh / NH, h = bh % NH;
    int kt = blockIdx.y; // early keys have the most queries
    int k0 = kt * ATT_TILE, r0 = 16 * w;
    size_t C3 = 3 * (size_t)C;
    const E* qh = qkv + (size_t)b * T * C3 + (size_t)h * hs;
    const E* kh = qh + C;
    const E* vh = qh + 2 * (size_t)C;
    const E* doh = dout + (size_t)b * T * C + (size_t)h * hs;

    att_load<HS>(Ks, kh, C3, k0, T, hs);
    att_load<HS>(Vs, vh, C3, k0, T, hs);
    float dk[NT][4], dv[NT][4];
    zero<NT>(dk);
    zero<NT>(dv);
    for (int qt = kt; qt < (int)gridDim.y; qt++) {
        int t0 = qt * ATT_TILE;
        __syncthreads();
        att_load<HS>(Qs, qh, C3, t0, T, hs);
        att_load<HS>(dOs, doh, C, t0, T, hs);
        for (int r = threadIdx.x; r < ATT_TILE; r += ATT_THREADS) {
            int row = t0 + r;
            Ls[r] = row < T ? lse[(size_t)bh * T + row] : 0.0f;
            Ds[r] = row < T ? Dg[(size_t)bh * T + row] : 0.0f;
        }
        __syncthreads();
        if (k0 + r0 >= T) continue; // the warp's keys are all past T
        float s[8][4], dp[8][4];
        zero<8>(s);
        zero<8>(dp);
        Ops::template abt<HS, 8>(s, Ks, LD, r0, Qs, LD);
        Ops::template abt<HS, 8>(dp, Vs, LD, r0, dOs, LD);
#pragma unroll
        for (int n = 0; n < 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int c = 8 * n + 2 * t + e % 2, i = t0 + c, j = k0 + r0 + g + 8 * (e / 2);
                float p = (j <= i && i < T) ? expf(s[n][e] * scale - Ls[c]) : 0.0f;
                s[n][e] = p;
                dp[n][e] = p * (dp[n][e] - Ds[c]) * scale;
            }
        Ops::put(Wp, s);
        Ops::put(Wd, dp);
        __syncwarp();
        Ops::template ab<NT>(dv, Wp, ATT_SLD, 0, dOs, LD);
        Ops::template ab<NT>(dk, Wd, ATT_SLD, 0, Qs, LD);
    }
    const float one[2] = {1.0f, 1.0f};
    E* dst = dqkv + (size_t)b * T * C3 + (size_t)h * hs;
    store_rows<NT>(dst + C, C3, dk, one, k0 + r0, T, hs);
    store_rows<NT>(dst + 2 * (size_t)C, C3, dv, one, k0 + r0, T, hs);
}

// The launchable kernels, one set per padded head size HS and precision
// (fp32: 3xTF32; tf32: one TF32 product; bf16: bf16 operands, m16n8k16):
// 128 threads, grid (B*NH, ceil(T/64)), the dynamic shared memory
// newAttnVariant computes (the same for every precision: the tiles are float).
#define ATT_KERNELS(HS, PREC, X3, E)                                                                                \
    extern "C" __global__ void __launch_bounds__(ATT_THREADS)                                                       \
        attention_forward_hs##HS##_##PREC(E* out, float* lse, const E* qkv, int T, int C, int NH, float scale) {   \
        attention_forward_impl<HS, X3, E>(out, lse, qkv, T, C, NH, scale);                                          \
    }                                                                                                               \
    extern "C" __global__ void __launch_bounds__(ATT_THREADS)                                                       \
        attention_backward_dq_hs##HS##_##PREC(E* dqkv, float* Dg, const E* dout, const E* qkv, const E* out,       \
                                              const float* lse, int T, int C, int NH, float scale) {                \
        attention_backward_dq_impl<HS, X3, E>(dqkv, Dg, dout, qkv, out, lse, T, C, NH, scale);                      \
    }                                                                                                               \
    extern "C" __global__ void __launch_bounds__(ATT_THREADS)                                                       \
        attention_backward_dkdv_hs##HS##_##PREC(E* dqkv, const float* Dg, const E* dout, const E* qkv,             \
                                                const float* lse, int T, int C, int NH, float scale) {              \
        attention_backward_dkdv_impl<HS, X3, E>(dqkv, Dg, dout, qkv, lse, T, C, NH, scale);                         \
    }

ATT_KERNELS(16, fp32, true, float)
ATT_KERNELS(32, fp32, true, float)
ATT_KERNELS(64, fp32, true, float)
ATT_KERNELS(128, fp32, true, float)
ATT_KERNELS(16, tf32, false, float)
ATT_KERNELS(32, tf32, false, float)
ATT_KERNELS(64, tf32, false, float)
ATT_KERNELS(128, tf32, false, float)
ATT_KERNELS(16, bf16, false, bf16)
ATT_KERNELS(32, bf16, false, bf16)
ATT_KERNELS(64, bf16, false, bf16)
ATT_KERNELS(128, bf16, false, bf16)
