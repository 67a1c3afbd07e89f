// LayerNorm: forward saving mean and rstd (alone, or fused after a residual add), backward for dinp (accumulated) and dw, db (column sums without atomics),
// on float32 or bf16 storage (mean and rstd are float32 in both).
#include "bf16x8.cuh"

#define LN_EPS 1e-5

// layernorm_forward: out (N, C) = (inp - mean) * rstd * w + b; mean, rstd (N); w, b (C).
// One warp per row (blockDim.x a multiple of 32), lane l over the elements
// l, l + 32, ...; mean and variance summed in float64, two passes, as the CPU;
// the element-wise math uses the float32 mean and rstd that are saved, so the
// backward sees the same normalised values.
extern "C" __global__ void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                                             const float* b, int N, int C) {
    int lane = threadIdx.x % 32;
    int n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (n >= N) return; // a whole warp leaves; no block-wide sync follows
    const float* x = inp + (size_t)n * C; // (C)
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
    float* o = out + (size_t)n * C; // (C)
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
// One warp per row, as layernorm_forward; row means summed in float64.
extern "C" __global__ void layernorm_backward_dinp(float* dinp, const float* dout, const float* inp, const float* w,
                                                   const float* mean, const float* rstd, int N, int C) {
    int lane = threadIdx.x % 32;
    int n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (n >= N) return;
    const float* x = inp + (size_t)n * C;  // (C)
    const float* d = dout + (size_t)n * C; // (C)
    float* di = dinp + (size_t)n * C;      // (C)
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

// The column sums' entries: S is the storage of dout and inp (and of dw, db: a
// parameter's gradient); the sums are float64 in both. The bf16 partial sums read
// 64 bytes per warp and row, whole 32-byte sectors: see layernorm.go on why they
// stay one column per thread.
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

// The bf16 row kernels (layernorm_forward_bf16, residual_layernorm_forward_bf16,
// layernorm_backward_dinp_bf16): the float32 entries' math on bf16 storage (mean and
// rstd float32), one warp per row, but lane l owns the packs of 8 consecutive
// elements at 8l, 8l + 256, ... (the last cut at C), read and written with one
// 128-bit access each where C % 8 == 0 and every operand is aligned16 (then so is
// every row), one element at a time otherwise (ldn, stn). A lane sums its packs'
// elements in order, in float64, then warp_sum_d: an order that depends on C alone,
// the same on both paths. LN_PACKS(c0) loops c0 over the calling lane's packs of a
// row of C.
#define LN_PACKS(c0) for (int c0 = 8 * (int)(threadIdx.x % 32); c0 < C; c0 += 256)

// ln_normalize_bf16: layernorm_forward_bf16 of the row x (C) from each lane's sum of
// its packs (row n): the variance pass, mean[n] and rstd[n] (float32), o (C).
__device__ __forceinline__ void ln_normalize_bf16(bf16* o, float* mean, float* rstd, const bf16* x, const bf16* w,
                                                  const bf16* b, double sum, int n, int C, bool vec) {
    double mu = warp_sum_d(sum) / (double)C;
    double ss = 0.0;
    LN_PACKS(c0) {
        float f[8];
        ldn(x, c0, C, vec, f);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            double d = (double)f[k] - mu;
            if (c0 + k < C) ss += d * d;
        }
    }
    ss = warp_sum_d(ss);
    float m32 = (float)mu;
    float s32 = (float)(1.0 / sqrt(ss / (double)C + LN_EPS));
    LN_PACKS(c0) {
        float f[8], fw[8], fb[8];
        ldn(x, c0, C, vec, f);
        ldn(w, c0, C, vec, fw);
        ldn(b, c0, C, vec, fb);
#pragma unroll
        for (int k = 0; k < 8; k++) f[k] = (f[k] - m32) * s32 * fw[k] + fb[k];
        stn(o, c0, C, vec, f);
    }
    if (threadIdx.x % 32 == 0) {
        mean[n] = m32;
        rstd[n] = s32;
    }
}

// layernorm_forward_bf16: layernorm_forward on bf16 storage.
extern "C" __global__ void layernorm_forward_bf16(bf16* out, float* mean, float* rstd, const bf16* inp, const bf16* w,
                                                  const bf16* b, int N, int C) {
    int n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (n >= N) return; // a whole warp leaves; no block-wide sync follows
    bool vec = C % 8 == 0 && aligned16(out) && aligned16(inp) && aligned16(w) && aligned16(b);
    const bf16* x = inp + (size_t)n * C; // (C)
    double sum = 0.0;
    LN_PACKS(c0) {
        float f[8];
        ldn(x, c0, C, vec, f);
#pragma unroll
        for (int k = 0; k < 8; k++)
            if (c0 + k < C) sum += (double)f[k];
    }
    ln_normalize_bf16(out + (size_t)n * C, mean, rstd, x, w, b, sum, n, C, vec);
}

// layernorm_backward_dinp_bf16: layernorm_backward_dinp on bf16 storage (each dinp
// element widened, the term added in float32, rounded once).
extern "C" __global__ void layernorm_backward_dinp_bf16(bf16* dinp, const bf16* dout, const bf16* inp, const bf16* w,
                                                        const float* mean, const float* rstd, int N, int C) {
    int n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (n >= N) return;
    bool vec = C % 8 == 0 && aligned16(dinp) && aligned16(dout) && aligned16(inp) && aligned16(w);
    const bf16* x = inp + (size_t)n * C;  // (C)
    const bf16* d = dout + (size_t)n * C; // (C)
    bf16* di = dinp + (size_t)n * C;      // (C)
    float m = mean[n], s = rstd[n];
    double sumD = 0.0, sumDN = 0.0;
    LN_PACKS(c0) {
        float fx[8], fw[8], fd[8];
        ldn(x, c0, C, vec, fx);
        ldn(w, c0, C, vec, fw);
        ldn(d, c0, C, vec, fd);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            float dnorm = fw[k] * fd[k];
            if (c0 + k < C) {
                sumD += (double)dnorm;
                sumDN += (double)(dnorm * ((fx[k] - m) * s));
            }
        }
    }
    float meanD = (float)(warp_sum_d(sumD) / (double)C);
    float meanDN = (float)(warp_sum_d(sumDN) / (double)C);
    LN_PACKS(c0) {
        float fx[8], fw[8], fd[8], g[8];
        ldn(x, c0, C, vec, fx);
        ldn(w, c0, C, vec, fw);
        ldn(d, c0, C, vec, fd);
        ldn(di, c0, C, vec, g);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            float norm = (fx[k] - m) * s;
            g[k] += (fw[k] * fd[k] - meanD - norm * meanDN) * s;
        }
        stn(di, c0, C, vec, g);
    }
}

extern "C" __global__ void layernorm_backward_dwdb_partial_bf16(double* pw, double* pb, const bf16* dout, const bf16* inp,
                                                                const float* mean, const float* rstd, int N, int C,
                                                                int rpc) {
    __shared__ double sw[32][33];
    __shared__ double sb[32][33];
    layernorm_backward_dwdb_partial_t(sw, sb, pw, pb, dout, inp, mean, rstd, N, C, rpc);
}

extern "C" __global__ void layernorm_backward_dwdb_final_bf16(bf16* dw, bf16* db, const double* pw, const double* pb,
                                                              int R, int C) {
    layernorm_backward_dwdb_final_t(dw, db, pw, pb, R, C);
}

// residual_layernorm_forward: res (N, C) = a + b (res may be a or b), then out (N, C),
// mean, rstd (N) = layernorm_forward of res: one pass over a and b for the two ops.
// One warp per row, each lane over layernorm_forward's elements i = lane, lane + 32,
// ...: the lane stores each sum and adds to the row's mean the value it stored (read
// back), so the mean, the variance pass and the normalisation, which read res back
// (each lane its own elements, still in cache), are layernorm_forward's on res, bit
// for bit. A lane reads a[i] and b[i] before it writes res[i], and no other lane
// touches i, so res may alias either input.
extern "C" __global__ void residual_layernorm_forward(float* res, float* out, float* mean, float* rstd, const float* a,
                                                      const float* b, const float* w, const float* bias, int N, int C) {
    int lane = threadIdx.x % 32;
    int n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (n >= N) return; // a whole warp leaves; no block-wide sync follows
    size_t row = (size_t)n * C;
    float* x = res + row; // (C)
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
    float* o = out + row; // (C)
    for (int i = lane; i < C; i += 32) {
        float y = (ldf(x + i) - m32) * s32 * ldf(w + i) + ldf(bias + i);
        stf(o + i, y);
    }
    if (lane == 0) {
        mean[n] = m32;
        rstd[n] = s32;
    }
}

// residual_layernorm_forward_bf16: residual_layernorm_forward on bf16 storage, in
// layernorm_forward_bf16's packs: a lane rounds each sum as it stores it (one
// rounding, as residual_forward_bf16) and sums the rounded values, the very values
// layernorm_forward_bf16 would read back from res, in its order; the rest is
// ln_normalize_bf16 on res. So the result is residual_forward_bf16 then
// layernorm_forward_bf16, bit for bit, on either path. A lane reads its packs of a
// and b before it writes them to res, so res may alias either input.
extern "C" __global__ void residual_layernorm_forward_bf16(bf16* res, bf16* out, float* mean, float* rstd, const bf16* a,
                                                           const bf16* b, const bf16* w, const bf16* bias, int N, int C) {
    int n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (n >= N) return; // a whole warp leaves; no block-wide sync follows
    bool vec = C % 8 == 0 && aligned16(res) && aligned16(out) && aligned16(a) && aligned16(b) && aligned16(w) &&
               aligned16(bias);
    size_t row = (size_t)n * C;
    double sum = 0.0;
    LN_PACKS(c0) {
        float f[8], fb[8];
        ldn(a + row, c0, C, vec, f);
        ldn(b + row, c0, C, vec, fb);
#pragma unroll
        for (int k = 0; k < 8; k++) f[k] = bf16_to_f32(f32_to_bf16(f[k] + fb[k])); // as stored
        stn(res + row, c0, C, vec, f);
#pragma unroll
        for (int k = 0; k < 8; k++)
            if (c0 + k < C) sum += (double)f[k];
    }
    ln_normalize_bf16(out + row, mean, rstd, res + row, w, bias, sum, n, C, vec);
}
