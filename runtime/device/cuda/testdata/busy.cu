// Stand-in compute of known cost for the CUDA device tests.
//
// Every thread runs iters steps of two dependent multiply-adds, so the time
// of a launch is proportional to iters and to how many waves of blocks its
// SMs must run: a grid sized to fill a partition's SMs once takes the same
// time on any partition of that size, and twice as long where it must share
// its SMs with another such grid (two contexts time-slicing one GPU).
//
// Regenerate the PTX (CUDA 11.8's nvcc; the driver JIT-compiles it for newer GPUs):
//   nvcc -ptx -arch=compute_80 -O3 -o runtime/device/cuda/testdata/busy.ptx runtime/device/cuda/testdata/busy.cu
extern "C" __global__ void busy(float* out, long long iters) {
    float x = (float)threadIdx.x * 1e-3f;
    float y = 1.0f;
    for (long long i = 0; i < iters; i++) {
        x = fmaf(x, 0.9999999f, y);
        y = fmaf(y, 0.9999999f, 1e-7f);
    }
    if (x == -1.0f) {  // never true: keeps the loop from being optimised away
        out[blockIdx.x] = x + y;
    }
}
