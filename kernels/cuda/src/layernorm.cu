// LayerNorm: forward saving mean and rstd, backward for dinp (accumulated) and dw, db (column sums without atomics).
#include "common.cuh"

#define LN_EPS 1e-5

// layernorm_forward: out (N, C) = (inp - mean) * rstd * w + b; mean, rstd (N); w, b (C).
// One warp per row (blockDim.x a multiple of 32); mean and variance summed in
// float64, two passes, as the CPU; the element-wise math uses the float32
// mean and rstd that are saved, so the backward sees the same normalised values.
extern "C" __global__ void layernorm_forward(float* out, float* mean, float* rstd, const float* inp,
                                             const float* w, const float* b, int N, int C) {
    int lane = threadIdx.x % 32;
    int n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (n >= N) return; // a whole warp leaves; no block-wide sync follows
    const float* x = inp + (size_t)n * C; // (C)
    double sum = 0.0;
    for (int i = lane; i < C; i += 32) sum += (double)x[i];
    double mu = warp_sum_d(sum) / (double)C;
    double ss = 0.0;
    for (int i = lane; i < C; i += 32) {
        double d = (double)x[i] - mu;
        ss += d * d;
    }
    ss = warp_sum_d(ss);
    float m32 = (float)mu;
    float s32 = (float)(1.0 / sqrt(ss / (double)C + LN_EPS));
    float* o = out + (size_t)n * C; // (C)
    for (int i = lane; i < C; i += 32) o[i] = (x[i] - m32) * s32 * w[i] + b[i];
    if (lane == 0) {
        mean[n] = m32;
        rstd[n] = s32;
    }
}

// layernorm_backward_dinp: dinp (N, C) += (dnorm - mean(dnorm) - norm * mean(dnorm * norm)) * rstd,
// norm = (inp - mean) * rstd, dnorm = w * dout; dout, inp (N, C); w (C); mean, rstd (N).
// One warp per row, row means summed in float64.
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
        float dnorm = w[i] * d[i];
        sumD += (double)dnorm;
        sumDN += (double)(dnorm * ((x[i] - m) * s));
    }
    float meanD = (float)(warp_sum_d(sumD) / (double)C);
    float meanDN = (float)(warp_sum_d(sumDN) / (double)C);
    for (int i = lane; i < C; i += 32) {
        float norm = (x[i] - m) * s;
        di[i] += (w[i] * d[i] - meanD - norm * meanDN) * s;
    }
}

// layernorm_backward_dwdb_partial: pw, pb (R, C) = sums over R chunks of rpc
// rows of norm * dout and of dout, in float64; dout, inp (N, C); mean, rstd
// (N). Block (32, 32), grid (ceil(C/32), R), as bias_backward_partial: thread
// (x, y) sums column 32*bx + x over the chunk's rows by*rpc + y, + 32, ...;
// thread y == 0 adds the 32 partial sums in order. The order depends on N
// alone: deterministic, no atomics.
extern "C" __global__ void layernorm_backward_dwdb_partial(double* pw, double* pb, const float* dout,
                                                           const float* inp, const float* mean, const float* rstd,
                                                           int N, int C, int rpc) {
    __shared__ double sw[32][33];
    __shared__ double sb[32][33];
    int tx = threadIdx.x, ty = threadIdx.y;
    int c = blockIdx.x * 32 + tx;
    int n0 = blockIdx.y * rpc, n1 = min(N, n0 + rpc);
    double aw = 0.0, ab = 0.0;
    if (c < C) {
        for (int n = n0 + ty; n < n1; n += 32) {
            float x = inp[(size_t)n * C + c];
            float d = dout[(size_t)n * C + c];
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
extern "C" __global__ void layernorm_backward_dwdb_final(float* dw, float* db, const double* pw, const double* pb,
                                                         int R, int C) {
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < C; c += gridDim.x * blockDim.x) {
        double tw = 0.0, tb = 0.0;
        for (int r = 0; r < R; r++) {
            tw += pw[(size_t)r * C + c];
            tb += pb[(size_t)r * C + c];
        }
        dw[c] += (float)tw;
        db[c] += (float)tb;
    }
}
