// cudaemu: the cuBLAS entry points baton resolves with dlsym (cublasCreate_v2,
// cublasSetStream_v2, cublasSetMathMode, cublasGetVersion_v2, cublasSgemm_v2,
// cublasGemmEx, cublasSscal_v2), as column-major
// GEMMs on the host that run in order on the handle's stream. FP32 storage
// only, as baton uses; TF32 compute truncates A and B to TF32's 10-bit
// mantissa, the coarsest rounding a tensor core may apply. Arguments are
// checked as cuBLAS checks them.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "emu.h"

namespace {

enum Status { kSuccess = 0, kNotInitialized = 1, kInvalidValue = 7, kExecutionFailed = 13, kNotSupported = 15 };
constexpr int kOpN = 0, kOpT = 1;
constexpr int kR32F = 0;                                        // CUDA_R_32F
constexpr int kCompute32F = 68, kCompute32FPedantic = 69, kCompute32FTF32 = 77;
constexpr int kTF32TensorOpMath = 3;

struct Handle {
    CUcontext ctx = nullptr;
    CUstream stream = nullptr;
    int math = 0;
};

int complain(int status, const char* call, const char* what) {
    fprintf(stderr, "cudaemu: %s: %s\n", call, what);
    return status;
}

float toTF32(float x) {
    uint32_t b;
    memcpy(&b, &x, 4);
    b &= 0xffffe000u;
    memcpy(&x, &b, 4);
    return x;
}

struct Gemm {
    int ta, tb, m, n, k;
    float alpha, beta;
    const float *a, *b;
    float* c;
    int lda, ldb, ldc;
    bool tf32;

    // run computes C = alpha op(A) op(B) + beta C; C is not read
    // when beta is 0, as in cuBLAS. op(A) and op(B) are copied out column-major
    // first (rounded to TF32 where asked), so that the inner loop runs down
    // contiguous columns and vectorises.
    void run() const {
        // jb columns of C at a time, whose sums fit in about 1 MiB of cache,
        // so that each column of op(A) is read once for all of them.
        const int jb = std::max(1, std::min(256, (1 << 18) / std::max(m, 1)));
        std::vector<float> pa((size_t)m * k), pb((size_t)k * n), acc((size_t)jb * m);
        for (int l = 0; l < k; l++)
            for (int i = 0; i < m; i++) {
                float v = ta == kOpN ? a[i + (size_t)l * lda] : a[l + (size_t)i * lda];
                pa[i + (size_t)l * m] = tf32 ? toTF32(v) : v;
            }
        for (int j = 0; j < n; j++)
            for (int l = 0; l < k; l++) {
                float v = tb == kOpN ? b[l + (size_t)j * ldb] : b[j + (size_t)l * ldb];
                pb[l + (size_t)j * k] = tf32 ? toTF32(v) : v;
            }
        for (int j0 = 0; j0 < n; j0 += jb) {
            int nj = std::min(jb, n - j0);
            std::fill(acc.begin(), acc.end(), 0.0f);
            for (int l = 0; l < k; l++) {
                const float* col = &pa[(size_t)l * m];
                for (int jj = 0; jj < nj; jj++) {
                    const float bl = pb[l + (size_t)(j0 + jj) * k];
                    float* dst = &acc[(size_t)jj * m];
                    for (int i = 0; i < m; i++) dst[i] += col[i] * bl;
                }
            }
            for (int jj = 0; jj < nj; jj++) {
                float* out = c + (size_t)(j0 + jj) * ldc;
                const float* sum = &acc[(size_t)jj * m];
                for (int i = 0; i < m; i++) out[i] = beta == 0.0f ? alpha * sum[i] : alpha * sum[i] + beta * out[i];
            }
        }
    }
};

int validate(const char* call, const Gemm& g) {
    if ((g.ta != kOpN && g.ta != kOpT) || (g.tb != kOpN && g.tb != kOpT)) return complain(kInvalidValue, call, "bad transpose");
    if (g.m < 0 || g.n < 0 || g.k < 0) return complain(kInvalidValue, call, "negative size");
    int rowsA = g.ta == kOpN ? g.m : g.k, rowsB = g.tb == kOpN ? g.k : g.n;
    if (g.lda < (rowsA > 1 ? rowsA : 1)) return complain(kInvalidValue, call, "lda below the rows of A");
    if (g.ldb < (rowsB > 1 ? rowsB : 1)) return complain(kInvalidValue, call, "ldb below the rows of B");
    if (g.ldc < (g.m > 1 ? g.m : 1)) return complain(kInvalidValue, call, "ldc below m");
    return kSuccess;
}

int submit(const char* call, void* h, Gemm g) {
    auto* hd = static_cast<Handle*>(h);
    if (!hd) return complain(kNotInitialized, call, "no handle");
    if (int s = validate(call, g)) return s;
    if (g.m == 0 || g.n == 0) return kSuccess;
    CUcontext cur = nullptr;
    cuCtxGetCurrent(&cur);
    if (cur != hd->ctx) return complain(kExecutionFailed, call, "called with another context current than the handle's");
    return emu::enqueue(hd->stream, [g] { g.run(); }) == CUDA_SUCCESS ? kSuccess : kExecutionFailed;
}

// computeTF32 decides the compute of a GemmEx call; -1: not supported.
int computeTF32(const Handle* h, int computeType) {
    switch (computeType) {
    case kCompute32F: return h->math == kTF32TensorOpMath;
    case kCompute32FPedantic: return 0;
    case kCompute32FTF32: return 1;
    default: return -1;
    }
}

}  // namespace

extern "C" {

int cublasCreate_v2(void** out) {
    CUcontext cur = nullptr;
    cuCtxGetCurrent(&cur);
    if (!cur) return complain(kNotInitialized, "cublasCreate_v2", "no current context");
    auto* h = new Handle;
    h->ctx = cur;
    *out = h;
    return kSuccess;
}

int cublasDestroy_v2(void* h) {
    if (!h) return kNotInitialized;
    delete static_cast<Handle*>(h);
    return kSuccess;
}

int cublasSetStream_v2(void* h, void* s) {
    if (!h) return kNotInitialized;
    static_cast<Handle*>(h)->stream = static_cast<CUstream>(s);
    return kSuccess;
}

int cublasSetMathMode(void* h, int mode) {
    if (!h) return kNotInitialized;
    static_cast<Handle*>(h)->math = mode;
    return kSuccess;
}

int cublasGetVersion_v2(void* h, int* v) {
    if (!h) return kNotInitialized;
    *v = 130000;
    return kSuccess;
}

int cublasSgemm_v2(void* h, int ta, int tb, int m, int n, int k, const float* alpha, const float* a, int lda,
                   const float* b, int ldb, const float* beta, float* c, int ldc) {
    if (!h) return kNotInitialized;
    bool t = static_cast<Handle*>(h)->math == kTF32TensorOpMath;
    return submit("cublasSgemm_v2", h, Gemm{ta, tb, m, n, k, *alpha, *beta, a, b, c, lda, ldb, ldc, t});
}

int cublasGemmEx(void* h, int ta, int tb, int m, int n, int k, const void* alpha, const void* a, int atype, int lda,
                 const void* b, int btype, int ldb, const void* beta, void* c, int ctype, int ldc, int compute, int algo) {
    (void)algo;
    if (!h) return kNotInitialized;
    if (atype != kR32F || btype != kR32F || ctype != kR32F) return complain(kNotSupported, "cublasGemmEx", "only CUDA_R_32F is emulated");
    int t = computeTF32(static_cast<Handle*>(h), compute);
    if (t < 0) return complain(kNotSupported, "cublasGemmEx", "compute type not emulated");
    return submit("cublasGemmEx", h,
                  Gemm{ta, tb, m, n, k, *static_cast<const float*>(alpha), *static_cast<const float*>(beta),
                       static_cast<const float*>(a), static_cast<const float*>(b), static_cast<float*>(c), lda, ldb, ldc, t == 1});
}

int cublasSscal_v2(void* h, int n, const float* alpha, float* x, int incx) {
    auto* hd = static_cast<Handle*>(h);
    if (!hd) return kNotInitialized;
    if (n < 0 || incx <= 0) return complain(kInvalidValue, "cublasSscal_v2", "bad n or incx");
    float s = *alpha;
    return emu::enqueue(hd->stream, [=] {
               for (int i = 0; i < n; i++) x[(size_t)i * incx] *= s;
           }) == CUDA_SUCCESS
               ? kSuccess
               : kExecutionFailed;
}

}  // extern "C"
