// Element-wise ops: tanh-GELU forward and backward, and the residual add. Outputs may alias inputs.
#include "common.cuh"

#define GELU_K 0.7978845608028654f // sqrt(2/pi)
#define GELU_C 0.044715f
#define GELU_3C 0.134145f // 3 * 0.044715, folded exactly as Go folds the CPU's constant

// gelu_forward: out (N) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), x = inp (N). Grid-stride.
extern "C" __global__ void gelu_forward(float* out, const float* inp, int N) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (size_t)N; i += (size_t)gridDim.x * blockDim.x) {
        float x = inp[i];
        float u = GELU_K * (x + GELU_C * x * x * x);
        out[i] = 0.5f * x * (1.0f + tanhf(u));
    }
}

// gelu_backward: dinp (N) = gelu'(inp) * dout; inp, dout (N); dinp may be dout.
// sech^2 is taken as 1 - tanh^2, as the CPU does.
extern "C" __global__ void gelu_backward(float* dinp, const float* inp, const float* dout, int N) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (size_t)N; i += (size_t)gridDim.x * blockDim.x) {
        float x = inp[i];
        float u = GELU_K * (x + GELU_C * x * x * x);
        float th = tanhf(u);
        float du = GELU_K * (1.0f + GELU_3C * x * x);
        float g = 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du;
        dinp[i] = g * dout[i];
    }
}

// residual_forward: out (N) = a (N) + b (N); out may be a or b.
extern "C" __global__ void residual_forward(float* out, const float* a, const float* b, int N) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (size_t)N; i += (size_t)gridDim.x * blockDim.x) {
        out[i] = a[i] + b[i];
    }
}
