// Bias: broadcast add over rows, and its column-sum backward without atomics, on float32 or bf16 storage.
#include "bf16x8.cuh"

// The bodies of either storage (T float or bf16): ldf/stf widen and round, so
// the math is the float32 entries' in both, each output rounded once.
template <typename T> __device__ __forceinline__ void bias_forward_t(T* out, const T* bias, int N, int OC) {
    size_t n = (size_t)N * OC;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        T* p = out + i;
        float b = ldf(bias + i % OC);
        stf(p, ldf(p) + b);
    }
}

template <typename T>
__device__ __forceinline__ void bias_backward_partial_t(double (*sum)[33], double* part, const T* dout, int N, int OC,
                                                        int rpc) {
    int tx = threadIdx.x, ty = threadIdx.y;
    int j = blockIdx.x * 32 + tx;
    int n0 = blockIdx.y * rpc, n1 = min(N, n0 + rpc);
    double acc = 0.0;
    if (j < OC) {
        for (int n = n0 + ty; n < n1; n += 32) acc += (double)ldf(dout + (size_t)n * OC + j);
    }
    sum[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && j < OC) {
        double total = 0.0;
        for (int y = 0; y < 32; y++) total += sum[y][tx];
        part[(size_t)blockIdx.y * OC + j] = total;
    }
}

template <typename T> __device__ __forceinline__ void bias_backward_final_t(T* dbias, const double* part, int R, int OC) {
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < OC; j += gridDim.x * blockDim.x) {
        double total = 0.0;
        for (int r = 0; r < R; r++) total += part[(size_t)r * OC + j];
        addf(dbias + j, (float)total);
    }
}

// bias_forward: out (N, OC) += bias (OC) on every row. One thread per element, grid-stride.
extern "C" __global__ void bias_forward(float* out, const float* bias, int N, int OC) {
    bias_forward_t(out, bias, N, OC);
}

// bias_backward_partial: part (R, OC) = column sums of dout (N, OC) over R
// chunks of rpc rows, in float64. Block (32, 32), grid (ceil(OC/32), R):
// thread (x, y) of block (bx, by) sums column 32*bx + x over the chunk's rows
// by*rpc + y, + 32, ..., then thread y == 0 adds the 32 partial sums in
// order. The host derives rpc and R from N alone, so the order depends on N
// alone: deterministic, no atomics; and enough blocks to fill the GPU.
extern "C" __global__ void bias_backward_partial(double* part, const float* dout, int N, int OC, int rpc) {
    __shared__ double sum[32][33];
    bias_backward_partial_t(sum, part, dout, N, OC, rpc);
}

// bias_backward_final: dbias (OC) += the R chunk sums of part (R, OC), added
// in chunk order. One thread per column, grid-stride.
extern "C" __global__ void bias_backward_final(float* dbias, const double* part, int R, int OC) {
    bias_backward_final_t(dbias, part, R, OC);
}

// bias_forward_bf16: bias_forward on bf16 storage (bias: a parameter's bf16 copy).
// Where OC % 8 == 0 and out and bias are 16-byte aligned, a thread takes 8
// elements of a row at a time (128-bit accesses), grid-stride; otherwise one, as
// bias_forward. Each element is the same float32 sum rounded once either way.
extern "C" __global__ void bias_forward_bf16(bf16* out, const bf16* bias, int N, int OC) {
    if (OC % 8 != 0 || !aligned16(out) || !aligned16(bias)) {
        bias_forward_t(out, bias, N, OC);
        return;
    }
    int OC8 = OC / 8; // packs per row
    PACKS(p, (size_t)N * OC8) {
        float x[8], b[8];
        ld8(out, p, x);
        ld8(bias, p % OC8, b);
#pragma unroll
        for (int k = 0; k < 8; k++) x[k] += b[k];
        st8(out, p, x);
    }
}

// bias_backward_partial_bf16: bias_backward_partial of a bf16 dout (float64 sums, the same order).
extern "C" __global__ void bias_backward_partial_bf16(double* part, const bf16* dout, int N, int OC, int rpc) {
    __shared__ double sum[32][33];
    bias_backward_partial_t(sum, part, dout, N, OC, rpc);
}

// bias_backward_final_bf16: bias_backward_final into a bf16 dbias: dbias + the
// float64 total, added in float32 and rounded once.
extern "C" __global__ void bias_backward_final_bf16(bf16* dbias, const double* part, int R, int OC) {
    bias_backward_final_t(dbias, part, R, OC);
}
