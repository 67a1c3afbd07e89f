// Encoder: token + position embedding forward, and its scatter-add backward without atomics, on float32 or bf16 storage.
#include "bf16x8.cuh"

// encoder_forward: out (BT, C) = wte[inp] (V, C) + wpe[t] (T, C); inp (BT) int, t = bt % T.
// One thread per element, grid-stride. A token id outside [0, V) writes NaN.
template <typename S>
__device__ __forceinline__ void encoder_forward_t(S* out, const int* inp, const S* wte, const S* wpe, int BT, int T,
                                                  int C, int V) {
    size_t n = (size_t)BT * C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        int bt = (int)(i / C), c = (int)(i % C);
        int ix = inp[bt];
        int t = bt % T;
        stf(out + i, (ix >= 0 && ix < V) ? ldf(wte + (size_t)ix * C + c) + ldf(wpe + (size_t)t * C + c) : qnan());
    }
}

// encoder_backward_wpe: dwpe (T, C) += sum over b of dout (B, T, C), b in order 0..B-1.
// One thread per (t, c), grid-stride: each element gets the CPU's sequence of adds.
template <typename S>
__device__ __forceinline__ void encoder_backward_wpe_t(S* dwpe, const S* dout, int B, int T, int C) {
    size_t n = (size_t)T * C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float acc = ldf(dwpe + i);
        for (int b = 0; b < B; b++) acc += ldf(dout + (size_t)b * n + i);
        stf(dwpe + i, acc);
    }
}

// encoder_backward_wte: dwte (V, C) += scatter of dout (BT, C) by inp (BT).
// Grid (ceil(C/blockDim.x), G), 1-D blocks of a multiple of 32 threads (at most
// 1024). Block (x, y) owns the channels of column chunk x of the vocabulary
// rows v with v % G == y: it scans all BT positions in order, compacts the
// positions whose token it owns (ballot + per-warp counts, order kept), and
// each thread adds those dout rows into its channel. Every dwte element is
// written by one thread only, with its terms in position order 0..BT-1 (the
// CPU's order): deterministic, no atomics, bit-identical to the CPU. A run of
// positions of one row (a frequent token, padding) is summed in a register
// (loaded from dwte at the run's start, stored at its end: the same float32
// additions as a read-modify-write per term, without a memory round trip
// each; in bf16, one rounding per run). Out-of-range ids are skipped (encoder_forward wrote NaN for them).
template <typename S>
__device__ __forceinline__ void encoder_backward_wte_t(int* pos, int* row, int* warpCount, S* dwte, const S* dout,
                                                       const int* inp, int BT, int C, int V, int G) {
    int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, nwarps = blockDim.x / 32;
    int c = blockIdx.x * blockDim.x + tid;
    int bucket = blockIdx.y;
    int cur = -1;    // the row whose element this thread holds in acc
    float acc = 0.0f; // dwte[cur][c] plus the terms added so far
    for (int start = 0; start < BT; start += blockDim.x) {
        int i = start + tid;
        int id = i < BT ? inp[i] : -1;
        bool mine = id >= 0 && id < V && id % G == bucket;
        unsigned ballot = __ballot_sync(FULL_MASK, mine);
        if (lane == 0) warpCount[warp] = __popc(ballot);
        __syncthreads();
        int off = 0, total = 0;
        for (int w = 0; w < nwarps; w++) {
            int n = warpCount[w];
            if (w < warp) off += n;
            total += n;
        }
        if (mine) {
            int k = off + __popc(ballot & ((1u << lane) - 1u));
            pos[k] = i;
            row[k] = id;
        }
        __syncthreads();
        if (c < C) {
            for (int k = 0; k < total; k++) {
                int r = row[k];
                if (r != cur) { // a run of one row ends: store it, load the next
                    if (cur >= 0) stf(dwte + (size_t)cur * C + c, acc);
                    cur = r;
                    acc = ldf(dwte + (size_t)cur * C + c);
                }
                acc += ldf(dout + (size_t)pos[k] * C + c);
            }
        }
        __syncthreads(); // pos, row and warpCount are rewritten by the next tile
    }
    if (c < C && cur >= 0) stf(dwte + (size_t)cur * C + c, acc);
}

// The entries: S is the storage of the float operands (wte and wpe: a
// parameter's float32 values or its bf16 copy); the math is float32 in both.
extern "C" __global__ void encoder_forward(float* out, const int* inp, const float* wte, const float* wpe,
                                           int BT, int T, int C, int V) {
    encoder_forward_t(out, inp, wte, wpe, BT, T, C, V);
}

extern "C" __global__ void encoder_backward_wpe(float* dwpe, const float* dout, int B, int T, int C) {
    encoder_backward_wpe_t(dwpe, dout, B, T, C);
}

extern "C" __global__ void encoder_backward_wte(float* dwte, const float* dout, const int* inp,
                                                int BT, int C, int V, int G) {
    __shared__ int pos[1024];
    __shared__ int row[1024];
    __shared__ int warpCount[32];
    encoder_backward_wte_t(pos, row, warpCount, dwte, dout, inp, BT, C, V, G);
}

// encoder_forward_bf16: encoder_forward on bf16 storage. Where C % 8 == 0 and out,
// wte and wpe are 16-byte aligned, a thread takes 8 channels at a time (one
// 128-bit access per operand), grid-stride; otherwise one element, as
// encoder_forward. Each element is the same float32 sum rounded once either way.
extern "C" __global__ void encoder_forward_bf16(bf16* out, const int* inp, const bf16* wte, const bf16* wpe,
                                                int BT, int T, int C, int V) {
    if (C % 8 != 0 || !aligned16(out) || !aligned16(wte) || !aligned16(wpe)) {
        encoder_forward_t(out, inp, wte, wpe, BT, T, C, V);
        return;
    }
    int C8 = C / 8; // packs per row
    PACKS(p, (size_t)BT * C8) {
        int bt = (int)(p / C8), c8 = (int)(p % C8);
        int ix = inp[bt];
        float f[8];
        if (ix >= 0 && ix < V) {
            float e[8];
            ld8(wte + (size_t)ix * C, c8, f);
            ld8(wpe + (size_t)(bt % T) * C, c8, e);
#pragma unroll
            for (int k = 0; k < 8; k++) f[k] += e[k];
        } else {
#pragma unroll
            for (int k = 0; k < 8; k++) f[k] = qnan();
        }
        st8(out, p, f);
    }
}

// encoder_backward_wpe_bf16: encoder_backward_wpe on bf16 storage: each element
// summed in float32 over b in order, rounded once. Where T*C % 8 == 0 and dwpe and
// dout are 16-byte aligned, a thread takes packs of 8 elements (128-bit accesses).
extern "C" __global__ void encoder_backward_wpe_bf16(bf16* dwpe, const bf16* dout, int B, int T, int C) {
    size_t n = (size_t)T * C;
    if (n % 8 != 0 || !aligned16(dwpe) || !aligned16(dout)) {
        encoder_backward_wpe_t(dwpe, dout, B, T, C);
        return;
    }
    PACKS(p, n / 8) {
        float acc[8], d[8];
        ld8(dwpe, p, acc);
        for (int b = 0; b < B; b++) {
            ld8(dout + (size_t)b * n, p, d);
#pragma unroll
            for (int k = 0; k < 8; k++) acc[k] += d[k];
        }
        st8(dwpe, p, acc);
    }
}

extern "C" __global__ void encoder_backward_wte_bf16(bf16* dwte, const bf16* dout, const int* inp,
                                                     int BT, int C, int V, int G) {
    __shared__ int pos[1024];
    __shared__ int row[1024];
    __shared__ int warpCount[32];
    encoder_backward_wte_t(pos, row, warpCount, dwte, dout, inp, BT, C, V, G);
}
