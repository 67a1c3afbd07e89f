// Encoder: token + position embedding forward, and its scatter-add backward without atomics.
#include "common.cuh"

// encoder_forward: out (BT, C) = wte[inp] (V, C) + wpe[t] (T, C); inp (BT) int, t = bt % T.
// One thread per element, grid-stride. A token id outside [0, V) writes NaN.
extern "C" __global__ void encoder_forward(float* out, const int* inp, const float* wte, const float* wpe,
                                           int BT, int T, int C, int V) {
    size_t n = (size_t)BT * C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        int bt = (int)(i / C), c = (int)(i % C);
        int ix = inp[bt];
        int t = bt % T;
        out[i] = (ix >= 0 && ix < V) ? wte[(size_t)ix * C + c] + wpe[(size_t)t * C + c] : qnan();
    }
}

// encoder_backward_wpe: dwpe (T, C) += sum over b of dout (B, T, C), b in order 0..B-1.
// One thread per (t, c), grid-stride: each element gets the CPU's sequence of adds.
extern "C" __global__ void encoder_backward_wpe(float* dwpe, const float* dout, int B, int T, int C) {
    size_t n = (size_t)T * C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float acc = dwpe[i];
        for (int b = 0; b < B; b++) acc += dout[(size_t)b * n + i];
        dwpe[i] = acc;
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
// each). Out-of-range ids are skipped (encoder_forward wrote NaN for them).
extern "C" __global__ void encoder_backward_wte(float* dwte, const float* dout, const int* inp,
                                                int BT, int C, int V, int G) {
    __shared__ int pos[1024];
    __shared__ int row[1024];
    __shared__ int warpCount[32];
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
                    if (cur >= 0) dwte[(size_t)cur * C + c] = acc;
                    cur = r;
                    acc = dwte[(size_t)cur * C + c];
                }
                acc += dout[(size_t)pos[k] * C + c];
            }
        }
        __syncthreads(); // pos, row and warpCount are rewritten by the next tile
    }
    if (c < C && cur >= 0) dwte[(size_t)cur * C + c] = acc;
}
