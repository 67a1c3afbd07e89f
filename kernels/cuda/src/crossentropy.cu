// Cross-entropy: fused softmax, per-row loss and logit gradients, one block per row, on float32 or bf16 logits.
#include "bf16x8.cuh"

// crossentropy_forward_backward: losses (N) = -log softmax(logits)[target] and
// dlogits (N, V) = (softmax - onehot(target)) * dscale, from logits (N, V) and targets (N) int.
// Grid N, 1-D blocks of a multiple of 32 threads (at most 1024). Two passes
// over the row: the first keeps each thread's running max and its sum of
// expf(x - max) (float64, rescaled when the max grows), combined by fixed
// trees; the second writes the gradients. float4s where V and the row allow.
// dlogits may be logits: the target's logit is read before the block's first
// barrier, and every other element is read and then written by the same
// thread after the last one. dscale 0 writes zeros (evaluation). A target
// outside [0, V) gives a NaN loss and no one-hot term.
// ce_add folds x into a running max m and sum of expf(. - m). A -Inf logit
// adds nothing (even before any finite one); a NaN makes the sum NaN.
__device__ __forceinline__ void ce_add(float& m, double& sum, float x) {
    if (x > m) {
        sum = sum * (double)expf(m - x) + 1.0;
        m = x;
    } else if (x != -INFINITY) {
        sum += (double)expf(x - m);
    }
}

extern "C" __global__ void crossentropy_forward_backward(float* losses, float* dlogits, const float* logits,
                                                         const int* targets, int N, int V, float dscale) {
    __shared__ float smax[32];
    __shared__ double ssum[32];
    int n = blockIdx.x;
    if (n >= N) return; // uniform over the block
    const float* x = logits + (size_t)n * V; // (V)
    float* d = dlogits + (size_t)n * V;      // (V)
    bool vec = V % 4 == 0 && reinterpret_cast<size_t>(x) % 16 == 0 && reinterpret_cast<size_t>(d) % 16 == 0;
    int ix = targets[n];
    bool ok = ix >= 0 && ix < V;
    float xt = ok ? x[ix] : 0.0f;
    float m = -INFINITY;
    double sum = 0.0;
    if (vec) {
        for (int i = threadIdx.x; i < V / 4; i += blockDim.x) {
            float4 v = reinterpret_cast<const float4*>(x)[i];
            ce_add(m, sum, v.x);
            ce_add(m, sum, v.y);
            ce_add(m, sum, v.z);
            ce_add(m, sum, v.w);
        }
    } else {
        for (int i = threadIdx.x; i < V; i += blockDim.x) ce_add(m, sum, x[i]);
    }
    float M = block_max_f(m, smax);
    sum = block_sum_d(m == -INFINITY ? 0.0 : sum * (double)expf(m - M), ssum);
    if (threadIdx.x == 0) losses[n] = ok ? (float)(log(sum) - (double)(xt - M)) : qnan();
    float s = (float)(1.0 / sum) * dscale;
    if (vec) {
        for (int i = threadIdx.x; i < V / 4; i += blockDim.x) {
            float4 v = reinterpret_cast<const float4*>(x)[i];
            float4 g = make_float4(__fmul_rn(expf(v.x - M), s), __fmul_rn(expf(v.y - M), s),
                                   __fmul_rn(expf(v.z - M), s), __fmul_rn(expf(v.w - M), s));
            if (ix >= 4 * i && ix < 4 * i + 4) (&g.x)[ix - 4 * i] -= dscale;
            reinterpret_cast<float4*>(d)[i] = g;
        }
        return;
    }
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        float g = __fmul_rn(expf(x[i] - M), s);
        if (i == ix) g -= dscale;
        d[i] = g;
    }
}

// crossentropy_forward_backward_bf16: crossentropy_forward_backward on bf16
// logits and dlogits (losses float32): the same passes, statistics and
// summation order, the float32 math on the widened logits, each gradient
// rounded once; packs of 8 logits (128 bits) where V % 8 == 0 and the row
// allows. In place as the float32 entry: the target's logit is read before
// the first barrier, and each pack (or element) is read and then written by
// one thread after the last.
extern "C" __global__ void crossentropy_forward_backward_bf16(float* losses, bf16* dlogits, const bf16* logits,
                                                              const int* targets, int N, int V, float dscale) {
    __shared__ float smax[32];
    __shared__ double ssum[32];
    int n = blockIdx.x;
    if (n >= N) return; // uniform over the block
    const bf16* x = logits + (size_t)n * V; // (V)
    bf16* d = dlogits + (size_t)n * V;      // (V)
    bool vec = V % 8 == 0 && aligned16(x) && aligned16(d);
    int ix = targets[n];
    bool ok = ix >= 0 && ix < V;
    float xt = ok ? ldf(x + ix) : 0.0f;
    float m = -INFINITY;
    double sum = 0.0;
    if (vec) {
        for (int i = threadIdx.x; i < V / 8; i += blockDim.x) {
            float f[8];
            ld8(x, i, f);
#pragma unroll
            for (int k = 0; k < 8; k++) ce_add(m, sum, f[k]);
        }
    } else {
        for (int i = threadIdx.x; i < V; i += blockDim.x) ce_add(m, sum, ldf(x + i));
    }
    float M = block_max_f(m, smax);
    sum = block_sum_d(m == -INFINITY ? 0.0 : sum * (double)expf(m - M), ssum);
    if (threadIdx.x == 0) losses[n] = ok ? (float)(log(sum) - (double)(xt - M)) : qnan();
    float s = (float)(1.0 / sum) * dscale;
    if (vec) {
        for (int i = threadIdx.x; i < V / 8; i += blockDim.x) {
            float f[8];
            ld8(x, i, f);
#pragma unroll
            for (int k = 0; k < 8; k++) {
                float g = __fmul_rn(expf(f[k] - M), s);
                if (8 * i + k == ix) g -= dscale;
                f[k] = g;
            }
            st8(d, i, f);
        }
        return;
    }
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        float g = __fmul_rn(expf(ldf(x + i) - M), s);
        if (i == ix) g -= dscale;
        stf(d + i, g);
    }
}
