// Element-wise ops: tanh-GELU forward and backward, and the residual add, on float32 or bf16 storage. Outputs may alias inputs.
#include "bf16x8.cuh"

#define GELU_K 0.7978845608028654f // sqrt(2/pi)
#define GELU_C 0.044715f
#define GELU_3C 0.134145f // 3 * 0.044715, folded exactly as Go folds the CPU's constant

// gelu: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
__device__ __forceinline__ float gelu(float x) {
    float u = GELU_K * (x + GELU_C * x * x * x);
    return 0.5f * x * (1.0f + tanhf(u));
}

// gelu_grad: gelu'(x); sech^2 is taken as 1 - tanh^2, as the CPU does.
__device__ __forceinline__ float gelu_grad(float x) {
    float u = GELU_K * (x + GELU_C * x * x * x);
    float th = tanhf(u);
    float du = GELU_K * (1.0f + GELU_3C * x * x);
    float g = 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du;
    return g;
}

// The grid-stride bodies over elements lo, lo+1, ..., N-1 of either storage
// (T float or bf16; ldf/stf widen and round, so the math is float32 in both).
#define ELT_LOOP(i, lo)                                                                                                \
    for (size_t i = (lo) + blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (size_t)N;                            \
         i += (size_t)gridDim.x * blockDim.x)

template <typename T> __device__ __forceinline__ void gelu_forward_t(T* out, const T* inp, int N, size_t lo) {
    ELT_LOOP(i, lo) stf(out + i, gelu(ldf(inp + i)));
}

template <typename T>
__device__ __forceinline__ void gelu_backward_t(T* dinp, const T* inp, const T* dout, int N, size_t lo) {
    ELT_LOOP(i, lo) stf(dinp + i, gelu_grad(ldf(inp + i)) * ldf(dout + i));
}

template <typename T>
__device__ __forceinline__ void residual_forward_t(T* out, const T* a, const T* b, int N, size_t lo) {
    ELT_LOOP(i, lo) stf(out + i, ldf(a + i) + ldf(b + i));
}

// The 128-bit loops of the bf16 entries: packs of 8 elements over the first
// N/8*8 (every pointer aligned16); the caller runs the scalar body over the
// rest. Each pack is read whole before it is written, by one thread, so an
// output may alias an input.
#define PACK_LOOP(p) PACKS(p, (size_t)N / 8)

// gelu_forward: out (N) = gelu(inp (N)). Grid-stride.
extern "C" __global__ void gelu_forward(float* out, const float* inp, int N) { gelu_forward_t(out, inp, N, 0); }

// gelu_backward: dinp (N) = gelu'(inp) * dout; inp, dout (N); dinp may be dout.
extern "C" __global__ void gelu_backward(float* dinp, const float* inp, const float* dout, int N) {
    gelu_backward_t(dinp, inp, dout, N, 0);
}

// residual_forward: out (N) = a (N) + b (N); out may be a or b.
extern "C" __global__ void residual_forward(float* out, const float* a, const float* b, int N) {
    residual_forward_t(out, a, b, N, 0);
}

// gelu_forward_bf16: gelu_forward on bf16 storage, float32 math, each output rounded once.
extern "C" __global__ void gelu_forward_bf16(bf16* out, const bf16* inp, int N) {
    size_t lo = 0;
    if (aligned16(out) && aligned16(inp)) {
        PACK_LOOP(p) {
            float x[8];
            ld8(inp, p, x);
#pragma unroll
            for (int k = 0; k < 8; k++) x[k] = gelu(x[k]);
            st8(out, p, x);
        }
        lo = (size_t)N / 8 * 8;
    }
    gelu_forward_t(out, inp, N, lo);
}

// gelu_backward_bf16: gelu_backward on bf16 storage.
extern "C" __global__ void gelu_backward_bf16(bf16* dinp, const bf16* inp, const bf16* dout, int N) {
    size_t lo = 0;
    if (aligned16(dinp) && aligned16(inp) && aligned16(dout)) {
        PACK_LOOP(p) {
            float x[8], d[8];
            ld8(inp, p, x);
            ld8(dout, p, d);
#pragma unroll
            for (int k = 0; k < 8; k++) x[k] = gelu_grad(x[k]) * d[k];
            st8(dinp, p, x);
        }
        lo = (size_t)N / 8 * 8;
    }
    gelu_backward_t(dinp, inp, dout, N, lo);
}

// residual_forward_bf16: residual_forward on bf16 storage: the sum in float32, rounded once.
extern "C" __global__ void residual_forward_bf16(bf16* out, const bf16* a, const bf16* b, int N) {
    size_t lo = 0;
    if (aligned16(out) && aligned16(a) && aligned16(b)) {
        PACK_LOOP(p) {
            float x[8], y[8];
            ld8(a, p, x);
            ld8(b, p, y);
#pragma unroll
            for (int k = 0; k < 8; k++) x[k] += y[k];
            st8(out, p, x);
        }
        lo = (size_t)N / 8 * 8;
    }
    residual_forward_t(out, a, b, N, lo);
}
