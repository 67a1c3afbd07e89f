// Test kernel of launch_test.go: out (H, W) = base + y*W + x + (tag - 1e12) + s, one
// thread each: a 2-D launch with scalars of every size.
//
// Regenerate the PTX (CUDA 11.8's nvcc; the driver JIT-compiles it for newer GPUs):
//   nvcc -ptx -arch=compute_80 -O3 -o kernels/cuda/testdata/fill2d.ptx kernels/cuda/testdata/fill2d.cu
extern "C" __global__ void baton_test_fill2d(float* out, int W, int H, float base, long long tag, short s) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x < W && y < H) out[(size_t)y * W + x] = base + (float)(y * W + x) + (float)(tag - 1000000000000LL) + (float)s;
}
