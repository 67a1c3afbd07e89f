// AdamW: the optimizer update, and the float64 sum of squares (gradient norms) by a fixed two-pass reduction.
#include "common.cuh"

// adamw_update: params, m, v (N) updated in place from grads (N) * gradScale:
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   p -= lr * (m/bc1 / (sqrt(v/bc2) + eps) + wd p),  bc1 = 1-b1^t, bc2 = 1-b2^t (from the host, in float64).
// One thread per element, grid-stride; float32 math with IEEE division and sqrtf.
extern "C" __global__ void adamw_update(float* params, const float* grads, float* m, float* v, int N,
                                        float lr, float beta1, float beta2, float eps, float wd,
                                        float gradScale, float bc1, float bc2) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (size_t)N; i += (size_t)gridDim.x * blockDim.x) {
        float w = params[i];
        float g = grads[i] * gradScale;
        float mi = beta1 * m[i] + (1.0f - beta1) * g;
        float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float mhat = mi / bc1;
        float vhat = vi / bc2;
        params[i] = w - lr * (mhat / (sqrtf(vhat) + eps) + wd * w);
    }
}

// sumsq_partial: partial (gridDim.x) = per-block float64 sums of x (n)^2.
// Thread i of block b sums elements b*blockDim.x + i + k*gridDim.x*blockDim.x
// in order of k, then the block adds its threads by a fixed tree. The host
// derives the grid from n alone, so the order depends on n alone.
extern "C" __global__ void sumsq_partial(double* partial, const float* x, long long n) {
    __shared__ double scratch[32];
    double acc = 0.0;
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        double v = (double)x[i];
        acc += v * v;
    }
    acc = block_sum_d(acc, scratch);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// sumsq_final: out[0] = sum of partial (G), one block: thread i adds partial[i],
// partial[i+blockDim.x], ... in order, then a fixed tree.
extern "C" __global__ void sumsq_final(double* out, const double* partial, int G) {
    __shared__ double scratch[32];
    double acc = 0.0;
    for (int i = threadIdx.x; i < G; i += blockDim.x) acc += partial[i];
    acc = block_sum_d(acc, scratch);
    if (threadIdx.x == 0) out[0] = acc;
}
