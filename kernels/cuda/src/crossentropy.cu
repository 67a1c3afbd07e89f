// Cross-entropy: fused softmax, per-row loss and logit gradients, one block per row.
#include "common.cuh"

// crossentropy_forward_backward: losses (N) = -log softmax(logits)[target] and
// dlogits (N, V) = (softmax - onehot(target)) * dscale, from logits (N, V) and targets (N) int.
// Grid N, 1-D blocks of a multiple of 32 threads (at most 1024). Stable: the row
// max is subtracted before expf; the denominator is summed in float64 by a
// fixed tree. dlogits may be logits: the target's logit is read before the
// block's first barrier, and every other element is read and then written by
// the same thread after the last one. dscale 0 writes zeros (evaluation). A
// target outside [0, V) gives a NaN loss and no one-hot term.
extern "C" __global__ void crossentropy_forward_backward(float* losses, float* dlogits, const float* logits,
                                                         const int* targets, int N, int V, float dscale) {
    __shared__ float smax[32];
    __shared__ double ssum[32];
    int n = blockIdx.x;
    if (n >= N) return; // uniform over the block
    const float* x = logits + (size_t)n * V; // (V)
    float* d = dlogits + (size_t)n * V;      // (V)
    int ix = targets[n];
    bool ok = ix >= 0 && ix < V;
    float xt = ok ? x[ix] : 0.0f;
    float m = -INFINITY;
    for (int i = threadIdx.x; i < V; i += blockDim.x) m = fmaxf(m, x[i]);
    m = block_max_f(m, smax);
    double sum = 0.0;
    for (int i = threadIdx.x; i < V; i += blockDim.x) sum += (double)expf(x[i] - m);
    sum = block_sum_d(sum, ssum);
    if (threadIdx.x == 0) losses[n] = ok ? (float)(log(sum) - (double)(xt - m)) : qnan();
    float s = (float)(1.0 / sum) * dscale;
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        float g = __fmul_rn(expf(x[i] - m), s);
        if (i == ix) g -= dscale;
        d[i] = g;
    }
}
