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

// wte_compact: the positions start .. start+blockDim.x-1 (below BT) whose token is
// in the bucket (id % G == bucket, id in [0, V)) into pos and their tokens into row,
// in position order (ballot + per-warp counts); returns how many. Every thread of
// the block calls it; it ends with a barrier, so all see pos and row whole.
// encoder_backward_wte_t keeps its own copy of these lines: through this helper
// its PTX, the one checked on an H100, would change.
__device__ __forceinline__ int wte_compact(int* pos, int* row, int* warpCount, const int* inp, int start, int BT,
                                           int V, int G, int bucket) {
    int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, nwarps = blockDim.x / 32;
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
    return total;
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
// each). Out-of-range ids are skipped (encoder_forward wrote NaN for them). The
// float32 entry only: the bf16 one keeps several rows' sums (encoder_backward_wte_bf16).
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

// WTE_SLOTS: the rows of its bucket whose float32 sums a thread of
// encoder_backward_wte_bf16 keeps at once.
#define WTE_SLOTS 8

// encoder_backward_wte_bf16: encoder_backward_wte on bf16 storage, with each dwte
// element rounded once per call where the bucket allows. The blocks, the buckets
// and the compaction are encoder_backward_wte_t's; but where the float32 form keeps
// one run of a row in a register, each thread here keeps the sums of up to
// WTE_SLOTS rows (loaded from dwte at a row's first term), so a row that recurs
// after other rows of its bucket (a frequent token among others) goes on adding to
// its float32 sum instead of being rounded to bf16 and loaded again: rounded
// once when the bucket has at most WTE_SLOTS rows in the batch, else once more
// each time the least recently used row gives its slot up. Every element still
// takes its terms in position order, and every thread makes the same slot
// choices (they follow the token sequence alone): deterministic, no atomics.
extern "C" __global__ void encoder_backward_wte_bf16(bf16* dwte, const bf16* dout, const int* inp,
                                                     int BT, int C, int V, int G) {
    __shared__ int pos[1024];
    __shared__ int row[1024];
    __shared__ int warpCount[32];
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    int bucket = blockIdx.y;
    int slotRow[WTE_SLOTS]; // the row in each slot, -1 while empty
    int used[WTE_SLOTS];    // when each slot last took a term, -1 while empty
    float acc[WTE_SLOTS];   // dwte[slotRow[s]][c] plus the terms added since
#pragma unroll
    for (int s = 0; s < WTE_SLOTS; s++) slotRow[s] = used[s] = -1;
    int clock = 0;
    for (int start = 0; start < BT; start += blockDim.x) {
        int total = wte_compact(pos, row, warpCount, inp, start, BT, V, G, bucket);
        if (c < C) {
            for (int k = 0; k < total; k++, clock++) {
                int r = row[k], hit = -1, lru = 0;
#pragma unroll
                for (int s = 0; s < WTE_SLOTS; s++) {
                    if (slotRow[s] == r) hit = s;
                    if (used[s] < used[lru]) lru = s;
                }
                if (hit < 0) { // r takes the least recently used slot (an empty one first)
                    hit = lru;
                    if (slotRow[hit] >= 0) stf(dwte + (size_t)slotRow[hit] * C + c, acc[hit]);
                    slotRow[hit] = r;
                    acc[hit] = ldf(dwte + (size_t)r * C + c);
                }
                used[hit] = clock;
                acc[hit] += ldf(dout + (size_t)pos[k] * C + c);
            }
        }
        __syncthreads(); // pos, row and warpCount are rewritten by the next tile
    }
    if (c < C) {
#pragma unroll
        for (int s = 0; s < WTE_SLOTS; s++)
            if (slotRow[s] >= 0) stf(dwte + (size_t)slotRow[s] * C + c, acc[s]);
    }
}
