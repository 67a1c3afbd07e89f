// LayerNorm: forward saving mean and rstd (alone, or fused after a residual add), backward for dinp (accumulated) and dw, db (column sums without atomics),
// on float32 or bf16 storage (mean and rstd are float32 in both).
#include "bf16x8.cuh"

#define LN_EPS 1e-5

// layernorm_forward: out (N, C) = (inp - mean) * rstd * w + b; mean, rstd (N); w, b (C).
// One warp per row (blockDim.x a multiple of 32); mean and variance summed in
// float64, two passes, as the CPU; the element-wise math uses the float32
// mean and rstd that are saved, so the backward sees the same normalised values.
template <typename S>
__device__ __forceinline__ void layernorm_forward_t(S* out, float* mean, float* rstd, const S* inp, const S* w,
                                                    const S* b, int N, int C) {
    int lane = threadIdx.x % 32;
    int n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (n >= N) return; // a whole warp leaves; no block-wide sync follows
    const S* x = inp + (size_t)n * C; // (C)
    double sum = 0.0;
    for (int i = lane; i < C; i += 32) sum += (double)ldf(x + i);
    double mu = warp_sum_d(sum) / (double)C;
    double ss = 0.0;
    for (int i = lane; i < C; i += 32) {
        double d = (double)ldf(x + i) - mu;
        ss += d * d;
    }
    ss = warp_sum_d(ss);
    float m32 = (float)mu;
    float s32 = (float)(1.0 / sqrt(ss / (double)C + LN_EPS));
    S* o = out + (size_t)n * C; // (C)
    for (int i = lane; i < C; i += 32) {
        float y = (ldf(x + i) - m32) * s32 * ldf(w + i) + ldf(b + i);
        stf(o + i, y);
    }
    if (lane == 0) {
        mean[n] = m32;
        rstd[n] = s32;
    }
}

// layernorm_backward_dinp: dinp (N, C) += (dnorm - mean(dnorm) - norm * mean(dnorm * norm)) * rstd,
// norm = (inp - mean) * rstd, dnorm = w * dout; dout, inp (N, C); w (C); mean, rstd (N).
// One warp per row, row means summed in float64.
template <typename S>
__device__ __forceinline__ void layernorm_backward_dinp_t(S* dinp, const S* dout, const S* inp, const S* w,
                                                          const float* mean, const float* rstd, int N, int C) {
    int lane = threadIdx.x % 32;
    int n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (n >= N) return;
    const S* x = inp + (size_t)n * C;  // (C)
    const S* d = dout + (size_t)n * C; // (C)
    S* di = dinp + (size_t)n * C;      // (C)
    float m = mean[n], s = rstd[n];
    double sumD = 0.0, sumDN = 0.0;
    for (int i = lane; i < C; i += 32) {
        float dnorm = ldf(w + i) * ldf(d + i);
        sumD += (double)dnorm;
        sumDN += (double)(dnorm * ((ldf(x + i) - m) * s));
    }
    float meanD = (float)(warp_sum_d(sumD) / (double)C);
    float meanDN = (float)(warp_sum_d(sumDN) / (double)C);
    for (int i = lane; i < C; i += 32) {
        float norm = (ldf(x + i) - m) * s;
        float g = (ldf(w + i) * ldf(d + i) - meanD - norm * meanDN) * s;
        addf(di + i, g);
    }
}

// layernorm_backward_dwdb_partial: pw, pb (R, C) = sums over R chunks of rpc
// rows of norm * dout and of dout, in float64; dout, inp (N, C); mean, rstd
// (N). Block (32, 32), grid (ceil(C/32), R), as bias_backward_partial: thread
// (x, y) sums column 32*bx + x over the chunk's rows by*rpc + y, + 32, ...;
// thread y == 0 adds the 32 partial sums in order. The order depends on N
// alone: deterministic, no atomics.
template <typename S>
__device__ __forceinline__ void layernorm_backward_dwdb_partial_t(double (*sw)[33], double (*sb)[33], double* pw,
                                                                  double* pb, const S* dout, const S* inp,
                                                                  const float* mean, const float* rstd, int N, int C,
                                                                  int rpc) {
    int tx = threadIdx.x, ty = threadIdx.y;
    int c = blockIdx.x * 32 + tx;
    int n0 = blockIdx.y * rpc, n1 = min(N, n0 + rpc);
    double aw = 0.0, ab = 0.0;
    if (c < C) {
        for (int n = n0 + ty; n < n1; n += 32) {
            float x = ldf(inp + (size_t)n * C + c);
            float d = ldf(dout + (size_t)n * C + c);
            aw += (double)((x - mean[n]) * rstd[n] * d);
            ab += (double)d;
        }
    }
    sw[ty][tx] = aw;
    sb[ty][tx] = ab;
    __syncthreads();
    if (ty == 0 && c < C) {
        double tw = 0.0, tb = 0.0;
        for (int y = 0; y < 32; y++) {
            tw += sw[y][tx];
            tb += sb[y][tx];
        }
        pw[(size_t)blockIdx.y * C + c] = tw;
        pb[(size_t)blockIdx.y * C + c] = tb;
    }
}

// layernorm_backward_dwdb_final: dw, db (C) += the R chunk sums of pw, pb
// (R, C), added in chunk order. One thread per column, grid-stride.
template <typename S>
__device__ __forceinline__ void layernorm_backward_dwdb_final_t(S* dw, S* db, const double* pw, const double* pb, int R,
                                                                int C) {
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < C; c += gridDim.x * blockDim.x) {
        double tw = 0.0, tb = 0.0;
        for (int r = 0; r < R; r++) {
            tw += pw[(size_t)r * C + c];
            tb += pb[(size_t)r * C + c];
        }
        addf(dw + c, (float)tw);
        addf(db + c, (float)tb);
    }
}

// The entries: S is the storage of the float operands other than mean and
// rstd (w and b: a parameter's float32 values or its bf16 copy); the math is
// float32 (the sums float64) in both.
extern "C" __global__ void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                                             const float* b, int N, int C) {
    layernorm_forward_t(out, mean, rstd, inp, w, b, N, C);
}

extern "C" __global__ void layernorm_backward_dinp(float* dinp, const float* dout, const float* inp, const float* w,
                                                   const float* mean, const float* rstd, int N, int C) {
    layernorm_backward_dinp_t(dinp, dout, inp, w, mean, rstd, N, C);
}

extern "C" __global__ void layernorm_backward_dwdb_partial(double* pw, double* pb, const float* dout, const float* inp,
                                                           const float* mean, const float* rstd, int N, int C, int rpc) {
    __shared__ double sw[32][33];
    __shared__ double sb[32][33];
    layernorm_backward_dwdb_partial_t(sw, sb, pw, pb, dout, inp, mean, rstd, N, C, rpc);
}

extern "C" __global__ void layernorm_backward_dwdb_final(float* dw, float* db, const double* pw, const double* pb, int R,
                                                         int C) {
    layernorm_backward_dwdb_final_t(dw, db, pw, pb, R, C);
}

extern "C" __global__ void layernorm_forward_bf16(bf16* out, float* mean, float* rstd, const bf16* inp, const bf16* w,
                                             const bf16* b, int N, int C) {
    layernorm_forward_t(out, mean, rstd, inp, w, b, N, C);
}

extern "C" __global__ void layernorm_backward_dinp_bf16(bf16* dinp, const bf16* dout, const bf16* inp, const bf16* w,
                                                   const float* mean, const float* rstd, int N, int C) {
    layernorm_backward_dinp_t(dinp, dout, inp, w, mean, rstd, N, C);
}

extern "C" __global__ void layernorm_backward_dwdb_partial_bf16(double* pw, double* pb, const bf16* dout, const bf16* inp,
                                                           const float* mean, const float* rstd, int N, int C, int rpc) {
    __shared__ double sw[32][33];
    __shared__ double sb[32][33];
    layernorm_backward_dwdb_partial_t(sw, sb, pw, pb, dout, inp, mean, rstd, N, C, rpc);
}

extern "C" __global__ void layernorm_backward_dwdb_final_bf16(bf16* dw, bf16* db, const double* pw, const double* pb, int R,
                                                         int C) {
    layernorm_backward_dwdb_final_t(dw, db, pw, pb, R, C);
}

// residual_layernorm_forward: res (N, C) = a + b (res may be a or b), then out (N, C),
// mean, rstd (N) = layernorm_forward of res: one pass over a and b for the two ops.
// One warp per row, each lane over the elements i = lane, lane + 32, ... as
// layernorm_forward_t: the lane stores each sum, rounded once to S, and adds to the
// row's mean the value it stored (read back: for bf16 the rounded sum), so the mean,
// the variance pass and the normalisation, which read res back (each lane its own
// elements, still in cache), are layernorm_forward_t's on res, bit for bit. A lane
// reads a[i] and b[i] before it writes res[i], and no other lane touches i, so res
// may alias either input.
template <typename S>
__device__ __forceinline__ void residual_layernorm_forward_t(S* res, S* out, float* mean, float* rstd, const S* a,
                                                             const S* b, const S* w, const S* bias, int N, int C) {
    int lane = threadIdx.x % 32;
    int n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (n >= N) return; // a whole warp leaves; no block-wide sync follows
    size_t row = (size_t)n * C;
    S* x = res + row; // (C)
    double sum = 0.0;
    for (int i = lane; i < C; i += 32) {
        stf(x + i, ldf(a + row + i) + ldf(b + row + i));
        sum += (double)ldf(x + i);
    }
    double mu = warp_sum_d(sum) / (double)C;
    double ss = 0.0;
    for (int i = lane; i < C; i += 32) {
        double d = (double)ldf(x + i) - mu;
        ss += d * d;
    }
    ss = warp_sum_d(ss);
    float m32 = (float)mu;
    float s32 = (float)(1.0 / sqrt(ss / (double)C + LN_EPS));
    S* o = out + row; // (C)
    for (int i = lane; i < C; i += 32) {
        float y = (ldf(x + i) - m32) * s32 * ldf(w + i) + ldf(bias + i);
        stf(o + i, y);
    }
    if (lane == 0) {
        mean[n] = m32;
        rstd[n] = s32;
    }
}

extern "C" __global__ void residual_layernorm_forward(float* res, float* out, float* mean, float* rstd, const float* a,
                                                      const float* b, const float* w, const float* bias, int N, int C) {
    residual_layernorm_forward_t(res, out, mean, rstd, a, b, w, bias, N, C);
}

extern "C" __global__ void residual_layernorm_forward_bf16(bf16* res, bf16* out, float* mean, float* rstd, const bf16* a,
                                                           const bf16* b, const bf16* w, const bf16* bias, int N, int C) {
    residual_layernorm_forward_t(res, out, mean, rstd, a, b, w, bias, N, C);
}
