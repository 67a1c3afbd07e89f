// Conversions between float32 and bf16 storage: uploads, downloads, and a parameter's bf16 copy made from its float32 master.
#include "common.cuh"

// f32_to_bf16_n: out (N) = in (N) rounded to bf16, ties to even. Grid-stride.
extern "C" __global__ void f32_to_bf16_n(bf16* out, const float* in, long long N) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < N; i += (long long)gridDim.x * blockDim.x)
        out[i] = f32_to_bf16(in[i]);
}

// bf16_to_f32_n: out (N) = in (N), exactly. Grid-stride.
extern "C" __global__ void bf16_to_f32_n(float* out, const bf16* in, long long N) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < N; i += (long long)gridDim.x * blockDim.x)
        out[i] = bf16_to_f32(in[i]);
}
