// AdamW: the optimizer update (float32 parameters, or bf16 parameters with float32 masters), and the float64 sum of
// squares (gradient norms) by a fixed two-pass reduction.
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
template <typename S> __device__ __forceinline__ void sumsq_partial_t(double* scratch, double* partial, const S* x, long long n) {
    double acc = 0.0;
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        double v = (double)ldf(x + i);
        acc += v * v;
    }
    acc = block_sum_d(acc, scratch);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

extern "C" __global__ void sumsq_partial(double* partial, const float* x, long long n) {
    __shared__ double scratch[32];
    sumsq_partial_t(scratch, partial, x, n);
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

// sumsq_partial_bf16: sumsq_partial of bf16 values (widened exactly, squared and summed in float64, the same order).
extern "C" __global__ void sumsq_partial_bf16(double* partial, const bf16* x, long long n) {
    __shared__ double scratch[32];
    sumsq_partial_t(scratch, partial, x, n);
}

// sr_bits: 16 random bits for stochastic rounding, a hash (two splitmix64
// finalisers) of the seed, the step t and the element index i alone: the same
// on every run, launch geometry and device.
__device__ __forceinline__ unsigned long long splitmix64(unsigned long long z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

__device__ __forceinline__ unsigned sr_bits(unsigned long long seed, int t, size_t i) {
    unsigned long long k = splitmix64(seed + 0x9e3779b97f4a7c15ull * (unsigned long long)t);
    return (unsigned)(splitmix64(k + 0x9e3779b97f4a7c15ull * (unsigned long long)i) >> 48);
}

// f32_to_bf16_sr: x rounded to one of the two bf16 nearest it, up (away from
// zero) with probability equal to the fraction of the way x lies from the one
// below: r (16 uniform bits) added to the bits below bf16's mantissa, then
// truncated; the rounded value is x on average. NaN as f32_to_bf16, an infinity
// stays one, and a finite x never rounds to infinity (it stays at the largest
// finite bf16 instead).
__device__ __forceinline__ bf16 f32_to_bf16_sr(float x, unsigned r) {
    unsigned u = __float_as_uint(x);
    if ((u & 0x7fffffffu) >= 0x7f800000u) return f32_to_bf16(x);
    unsigned h = (u + r) >> 16;
    if ((h & 0x7f80u) == 0x7f80u) h -= 1; // past the largest finite: stay there
    return (bf16)h;
}

// adamw_update_bf16: adamw_update of a bf16 parameter: master (N) is its float32
// value, updated in place exactly as adamw_update updates params; params (N),
// its bf16 copy, is rewritten from the new master, rounded to nearest even or,
// when stochastic is nonzero, stochastically (f32_to_bf16_sr with sr_bits(seed,
// t, i)); grads (N) bf16; m, v (N) float32.
extern "C" __global__ void adamw_update_bf16(bf16* params, float* master, const bf16* grads, float* m, float* v, int N,
                                             float lr, float beta1, float beta2, float eps, float wd, float gradScale,
                                             float bc1, float bc2, int stochastic, unsigned long long seed, int t) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (size_t)N; i += (size_t)gridDim.x * blockDim.x) {
        float w = master[i];
        float g = bf16_to_f32(grads[i]) * gradScale;
        float mi = beta1 * m[i] + (1.0f - beta1) * g;
        float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float mhat = mi / bc1;
        float vhat = vi / bc2;
        float nw = w - lr * (mhat / (sqrtf(vhat) + eps) + wd * w);
        master[i] = nw;
        params[i] = stochastic ? f32_to_bf16_sr(nw, sr_bits(seed, t, i)) : f32_to_bf16(nw);
    }
}
