// Bias: broadcast add over rows, and its column-sum backward without atomics.
#include "common.cuh"

// bias_forward: out (N, OC) += bias (OC) on every row. One thread per element, grid-stride.
extern "C" __global__ void bias_forward(float* out, const float* bias, int N, int OC) {
    size_t n = (size_t)N * OC;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        out[i] += bias[i % OC];
    }
}

// bias_backward: dbias (OC) += column sums of dout (N, OC).
// Block (32, 32), grid ceil(OC/32): thread (x, y) sums column 32*blockIdx.x + x
// over rows y, y+32, ... in float64; thread y == 0 adds the 32 partial sums in
// order. The order depends on N alone: deterministic, no atomics.
extern "C" __global__ void bias_backward(float* dbias, const float* dout, int N, int OC) {
    __shared__ double part[32][33];
    int tx = threadIdx.x, ty = threadIdx.y;
    int j = blockIdx.x * 32 + tx;
    double acc = 0.0;
    if (j < OC) {
        for (int n = ty; n < N; n += 32) acc += (double)dout[(size_t)n * OC + j];
    }
    part[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && j < OC) {
        double total = 0.0;
        for (int y = 0; y < 32; y++) total += part[y][tx];
        dbias[j] += (float)total;
    }
}
