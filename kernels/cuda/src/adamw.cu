// AdamW: the optimizer update (float32 parameters, or bf16 parameters with float32 masters), and the float64 sum of
// squares (gradient norms) by a fixed two-pass reduction.
#include "bf16x8.cuh"

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

// sumsq_partial_bf16: sumsq_partial of bf16 values (widened exactly, squared and
// summed in float64) in packs of 8: thread i of block b sums the elements of packs
// q = b*blockDim.x + i + k*gridDim.x*blockDim.x (elements 8q .. 8q+7) in order of
// k, then of the element; the thread with j = b*blockDim.x + i < n % 8 then adds
// element n/8*8 + j; then the block's fixed tree. A pack is one 128-bit load where
// x is 16-byte aligned, eight loads otherwise: the same sums, so the order depends
// on n alone (the grid does too), not on where the view starts.
extern "C" __global__ void sumsq_partial_bf16(double* partial, const bf16* x, long long n) {
    __shared__ double scratch[32];
    bool vec = aligned16(x);
    size_t j = blockIdx.x * (size_t)blockDim.x + threadIdx.x, packs = (size_t)n / 8;
    double acc = 0.0;
    for (size_t q = j; q < packs; q += (size_t)gridDim.x * blockDim.x) {
        float f[8];
        ldn(x, 8 * q, (size_t)n, vec, f);
#pragma unroll
        for (int k = 0; k < 8; k++) acc += (double)f[k] * (double)f[k];
    }
    if (j < (size_t)n % 8) {
        double v = (double)bf16_to_f32(x[packs * 8 + j]);
        acc += v * v;
    }
    acc = block_sum_d(acc, scratch);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
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

// adamw_step: one element of adamw_update, its float32 arithmetic: w the weight, g
// the scaled gradient, m and v the moments (updated); returns the new weight.
// (adamw_update keeps its own copy: through this helper its PTX, the one checked
// on an H100, would change.)
__device__ __forceinline__ float adamw_step(float w, float g, float& m, float& v, float lr, float beta1, float beta2,
                                            float eps, float wd, float bc1, float bc2) {
    m = beta1 * m + (1.0f - beta1) * g;
    v = beta2 * v + (1.0f - beta2) * g * g;
    float mhat = m / bc1;
    float vhat = v / bc2;
    return w - lr * (mhat / (sqrtf(vhat) + eps) + wd * w);
}

// ldf8 / stf8: the float32 p[8i .. 8i+7] as two 128-bit accesses (p 16-byte aligned).
__device__ __forceinline__ void ldf8(const float* p, size_t i, float (&f)[8]) {
    float4 a = reinterpret_cast<const float4*>(p)[2 * i], b = reinterpret_cast<const float4*>(p)[2 * i + 1];
    f[0] = a.x, f[1] = a.y, f[2] = a.z, f[3] = a.w, f[4] = b.x, f[5] = b.y, f[6] = b.z, f[7] = b.w;
}

__device__ __forceinline__ void stf8(float* p, size_t i, const float (&f)[8]) {
    reinterpret_cast<float4*>(p)[2 * i] = make_float4(f[0], f[1], f[2], f[3]);
    reinterpret_cast<float4*>(p)[2 * i + 1] = make_float4(f[4], f[5], f[6], f[7]);
}

// adamw_update_bf16: adamw_update of a bf16 parameter: master (N) is its float32
// value, updated in place exactly as adamw_update updates params; params (N),
// its bf16 copy, is rewritten from the new master, rounded to nearest even or,
// when stochastic is nonzero, stochastically (f32_to_bf16_sr with sr_bits(seed,
// t, i)); grads (N) bf16; m, v (N) float32. Where every operand is 16-byte
// aligned, a thread takes packs of 8 elements (grid-stride): params and grads one
// 128-bit access each, master, m and v two; the rest, or all of it otherwise, one
// element a thread. Each element's arithmetic and random bits are the same on
// either path, so the result does not depend on it.
extern "C" __global__ void adamw_update_bf16(bf16* params, float* master, const bf16* grads, float* m, float* v, int N,
                                             float lr, float beta1, float beta2, float eps, float wd, float gradScale,
                                             float bc1, float bc2, int stochastic, unsigned long long seed, int t) {
    size_t lo = 0;
    if (aligned16(params) && aligned16(master) && aligned16(grads) && aligned16(m) && aligned16(v)) {
        PACKS(p, (size_t)N / 8) {
            float w[8], g[8], mi[8], vi[8];
            ldf8(master, p, w);
            ld8(grads, p, g);
            ldf8(m, p, mi);
            ldf8(v, p, vi);
            bf16x8 h;
#pragma unroll
            for (int k = 0; k < 8; k++) {
                w[k] = adamw_step(w[k], g[k] * gradScale, mi[k], vi[k], lr, beta1, beta2, eps, wd, bc1, bc2);
                unsigned b = stochastic ? f32_to_bf16_sr(w[k], sr_bits(seed, t, 8 * p + k)) : f32_to_bf16(w[k]);
                h.w[k / 2] = k % 2 ? h.w[k / 2] | b << 16 : b; // element 2j the low half of word j
            }
            stf8(m, p, mi);
            stf8(v, p, vi);
            stf8(master, p, w);
            reinterpret_cast<bf16x8*>(params)[p] = h;
        }
        lo = (size_t)N / 8 * 8;
    }
    for (size_t i = lo + blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (size_t)N; i += (size_t)gridDim.x * blockDim.x) {
        float mi = m[i], vi = v[i];
        float nw = adamw_step(master[i], bf16_to_f32(grads[i]) * gradScale, mi, vi, lr, beta1, beta2, eps, wd, bc1, bc2);
        m[i] = mi;
        v[i] = vi;
        master[i] = nw;
        params[i] = stochastic ? f32_to_bf16_sr(nw, sr_bits(seed, t, i)) : f32_to_bf16(nw);
    }
}

// round_weights_bf16: params (N), a bf16 parameter's copy, rewritten from its float32
// master (N) as adamw_update_bf16's step t rounds it stochastically with seed: for a
// parameter written from the host (a checkpoint, a move between ranks), whose upload
// rounds to nearest. One element a thread, grid-stride; element i takes the random
// bits it took in adamw_update_bf16, on either of its paths.
extern "C" __global__ void round_weights_bf16(bf16* params, const float* master, int N, unsigned long long seed, int t) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (size_t)N; i += (size_t)gridDim.x * blockDim.x) {
        params[i] = f32_to_bf16_sr(master[i], sr_bits(seed, t, i));
    }
}
