// cudaemu: the cuBLAS entry points baton resolves with dlsym (cublasCreate_v2,
// cublasSetStream_v2, cublasSetMathMode, cublasGetVersion_v2, cublasSgemm_v2,
// cublasGemmEx, cublasSscal_v2), as column-major
// GEMMs on the host that run in order on the handle's stream. FP32 storage,
// and for cublasGemmEx also bf16 storage (CUDA_R_16BF for A, B and C together,
// with CUBLAS_COMPUTE_32F and float alpha and beta), as baton uses; TF32 compute
// truncates A and B to TF32's 10-bit mantissa, the coarsest rounding a tensor
// core may apply. Arguments are checked as cuBLAS checks them.
//
// The arithmetic, in either storage: every element of C is the float sum
// acc = (((0 + a0 b0) + a1 b1) + ...) over l = 0 .. k-1 in order, each product a
// float (inputs widened exactly from bf16, or TF32-truncated where asked),
// then alpha * acc + beta * c in float, with c (widened exactly from bf16) not
// read when beta is 0. bf16 storage rounds that float to the nearest bf16, ties
// to even, once (a NaN stays a quiet NaN), as common.cuh's f32_to_bf16.
//
// cuBLASLt (cublasLtCreate ... cublasLtMatmul, the subset baton uses): descriptors
// keep their attributes; the heuristic offers one algorithm for any operands;
// cublasLtMatmul runs the same GEMM with D = C (D elsewhere is refused), then the
// epilogue in float before the one rounding: BIAS adds bias[i] (C's storage,
// widened) to row i of D (column-major), GELU_AUX_BIAS also stores that sum to the
// auxiliary matrix (rounded to D's storage) and writes GELU(sum) to D, the tanh form
// 0.5 x (1 + tanhf(sqrt(2/pi) (x + 0.044715 x^3))) in float; DGELU multiplies the sum
// by that GELU's derivative at the auxiliary matrix's element (an input).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "emu.h"

namespace {

enum Status { kSuccess = 0, kNotInitialized = 1, kInvalidValue = 7, kExecutionFailed = 13, kNotSupported = 15 };
constexpr int kOpN = 0, kOpT = 1;
constexpr int kR32F = 0;                                        // CUDA_R_32F
constexpr int kR16BF = 14;                                      // CUDA_R_16BF
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

float fromBF16(uint16_t h) {
    uint32_t b = (uint32_t)h << 16;
    float x;
    memcpy(&x, &b, 4);
    return x;
}

uint16_t toBF16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

struct Gemm {
    int ta, tb, m, n, k;
    float alpha, beta;
    const void *a, *b;
    void* c;
    int lda, ldb, ldc;
    bool tf32;
    bool bf16 = false;  // A, B and C are bf16 (CUDA_R_16BF), not float
    // cuBLASLt's epilogue: bias (m elements, C's storage) added to every column, and
    // with gelu the sum stored to aux (ld auxld) and GELU of it to C.
    const void* bias = nullptr;
    void* aux = nullptr;
    long long auxld = 0;
    bool gelu = false;
    bool dgelu = false;  // DGELU: v times GELU'(aux), aux an input

    // epilogue finishes element (i, j) from its float value v.
    float epilogue(float v, int i, int j) const {
        if (dgelu) {
            float x = at(aux, (size_t)i + (size_t)j * auxld);
            float u = 0.7978845608f * (x + 0.044715f * x * x * x), th = tanhf(u);
            float du = 0.7978845608f * (1.0f + 3.0f * 0.044715f * x * x);
            return v * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du);
        }
        if (!bias) return v;
        v += at(bias, i);
        if (!gelu) return v;
        size_t o = (size_t)i + (size_t)j * auxld;
        if (bf16)
            static_cast<uint16_t*>(aux)[o] = toBF16(v);
        else
            static_cast<float*>(aux)[o] = v;
        return 0.5f * v * (1.0f + tanhf(0.7978845608f * (v + 0.044715f * v * v * v)));
    }

    // at reads element i of A, B or C (p), widened to float.
    float at(const void* p, size_t i) const {
        return bf16 ? fromBF16(static_cast<const uint16_t*>(p)[i]) : static_cast<const float*>(p)[i];
    }

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
                float v = ta == kOpN ? at(a, i + (size_t)l * lda) : at(a, l + (size_t)i * lda);
                pa[i + (size_t)l * m] = tf32 ? toTF32(v) : v;
            }
        for (int j = 0; j < n; j++)
            for (int l = 0; l < k; l++) {
                float v = tb == kOpN ? at(b, l + (size_t)j * ldb) : at(b, j + (size_t)l * ldb);
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
                const float* sum = &acc[(size_t)jj * m];
                int j = j0 + jj;
                if (bf16) {
                    uint16_t* out = static_cast<uint16_t*>(c) + (size_t)j * ldc;
                    for (int i = 0; i < m; i++)
                        out[i] = toBF16(epilogue(beta == 0.0f ? alpha * sum[i] : alpha * sum[i] + beta * fromBF16(out[i]), i, j));
                    continue;
                }
                float* out = static_cast<float*>(c) + (size_t)j * ldc;
                for (int i = 0; i < m; i++)
                    out[i] = epilogue(beta == 0.0f ? alpha * sum[i] : alpha * sum[i] + beta * out[i], i, j);
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
    bool bf16 = atype == kR16BF && btype == kR16BF && ctype == kR16BF;
    if (!bf16 && (atype != kR32F || btype != kR32F || ctype != kR32F))
        return complain(kNotSupported, "cublasGemmEx", "only CUDA_R_32F, or CUDA_R_16BF for A, B and C, is emulated");
    int t = computeTF32(static_cast<Handle*>(h), compute);
    if (t < 0) return complain(kNotSupported, "cublasGemmEx", "compute type not emulated");
    // bf16 operands are exact in TF32: the compute type changes nothing for them.
    Gemm g{ta, tb, m, n, k, *static_cast<const float*>(alpha), *static_cast<const float*>(beta), a, b, c, lda, ldb, ldc,
           t == 1 && !bf16};
    g.bf16 = bf16;
    return submit("cublasGemmEx", h, g);
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


// ---- cuBLASLt ----

struct LtHandle {
    CUcontext ctx = nullptr;
};
struct LtDesc {
    int compute = 0, scale = 0, ta = kOpN, tb = kOpN, epilogue = 1;  // CUBLASLT_EPILOGUE_DEFAULT
    const void* bias = nullptr;
    void* aux = nullptr;
    long long auxld = 0;
};
struct LtLayout {
    int type;
    uint64_t rows, cols;
    int64_t ld;
};
struct LtAlgo {
    uint64_t data[8];
};
struct LtHeuristic {
    LtAlgo algo;
    size_t workspaceSize;
    int state;
    float wavesCount;
    int reserved[4];
};
constexpr int kLtEpilogueDefault = 1, kLtEpilogueBias = 4, kLtEpilogueGeluAuxBias = 160, kLtEpilogueDGelu = 192;

int cublasLtCreate(void** out) {
    CUcontext cur = nullptr;
    cuCtxGetCurrent(&cur);
    if (!cur) return complain(kNotInitialized, "cublasLtCreate", "no current context");
    auto* h = new LtHandle;
    h->ctx = cur;
    *out = h;
    return kSuccess;
}
int cublasLtDestroy(void* h) {
    if (!h) return kNotInitialized;
    delete static_cast<LtHandle*>(h);
    return kSuccess;
}
int cublasLtMatmulDescCreate(void** out, int compute, int scale) {
    if (compute != kCompute32F || scale != kR32F)
        return complain(kNotSupported, "cublasLtMatmulDescCreate", "only CUBLAS_COMPUTE_32F with CUDA_R_32F scale is emulated");
    auto* d = new LtDesc;
    d->compute = compute;
    d->scale = scale;
    *out = d;
    return kSuccess;
}
int cublasLtMatmulDescDestroy(void* d) {
    delete static_cast<LtDesc*>(d);
    return kSuccess;
}
int cublasLtMatmulDescSetAttribute(void* dp, int attr, const void* buf, size_t n) {
    auto* d = static_cast<LtDesc*>(dp);
    if (!d || !buf) return complain(kInvalidValue, "cublasLtMatmulDescSetAttribute", "no descriptor or value");
    auto get = [&](void* dst, size_t want) {
        if (n != want) return complain(kInvalidValue, "cublasLtMatmulDescSetAttribute", "wrong size for the attribute");
        memcpy(dst, buf, n);
        return (int)kSuccess;
    };
    switch (attr) {
    case 3: return get(&d->ta, sizeof d->ta);           // TRANSA
    case 4: return get(&d->tb, sizeof d->tb);           // TRANSB
    case 7: return get(&d->epilogue, sizeof d->epilogue);  // EPILOGUE
    case 8: return get(&d->bias, sizeof d->bias);       // BIAS_POINTER
    case 11: return get(&d->aux, sizeof d->aux);        // EPILOGUE_AUX_POINTER
    case 12: return get(&d->auxld, sizeof d->auxld);    // EPILOGUE_AUX_LD
    }
    return complain(kNotSupported, "cublasLtMatmulDescSetAttribute", "attribute not emulated");
}
int cublasLtMatrixLayoutCreate(void** out, int type, uint64_t rows, uint64_t cols, int64_t ld) {
    if (type != kR32F && type != kR16BF) return complain(kNotSupported, "cublasLtMatrixLayoutCreate", "only CUDA_R_32F and CUDA_R_16BF are emulated");
    if (ld < (int64_t)std::max<uint64_t>(rows, 1)) return complain(kInvalidValue, "cublasLtMatrixLayoutCreate", "ld below the rows");
    *out = new LtLayout{type, rows, cols, ld};
    return kSuccess;
}
int cublasLtMatrixLayoutDestroy(void* l) {
    delete static_cast<LtLayout*>(l);
    return kSuccess;
}
int cublasLtMatmulPreferenceCreate(void** out) {
    *out = new uint64_t[16]();
    return kSuccess;
}
int cublasLtMatmulPreferenceDestroy(void* p) {
    delete[] static_cast<uint64_t*>(p);
    return kSuccess;
}
int cublasLtMatmulPreferenceSetAttribute(void* p, int attr, const void* buf, size_t n) {
    if (!p || !buf || attr < 0 || attr >= 16 || n > 8) return complain(kInvalidValue, "cublasLtMatmulPreferenceSetAttribute", "bad attribute");
    memcpy(static_cast<uint64_t*>(p) + attr, buf, n);
    return kSuccess;
}
int cublasLtMatmulAlgoGetHeuristic(void* h, void* desc, void* a, void* b, void* c, void* d, void* pref, int want,
                                   void* results, int* found) {
    if (!h || !desc || !a || !b || !c || !d || !pref || !results || !found || want < 1)
        return complain(kInvalidValue, "cublasLtMatmulAlgoGetHeuristic", "missing argument");
    LtHeuristic r{};
    memcpy(results, &r, sizeof r);
    *found = 1;
    return kSuccess;
}
int cublasLtMatmul(void* h, void* descp, const void* alpha, const void* a, void* la, const void* b, void* lb,
                   const void* beta, const void* c, void* lc, void* d, void* ld, const void* algo, void* ws, size_t wsSize,
                   CUstream stream) {
    (void)algo, (void)ws, (void)wsSize;
    const char* call = "cublasLtMatmul";
    auto* hd = static_cast<LtHandle*>(h);
    auto* desc = static_cast<LtDesc*>(descp);
    auto *A = static_cast<LtLayout*>(la), *B = static_cast<LtLayout*>(lb), *Cl = static_cast<LtLayout*>(lc),
         *D = static_cast<LtLayout*>(ld);
    if (!hd || !desc || !A || !B || !Cl || !D) return complain(kInvalidValue, call, "missing handle or descriptor");
    if (c != d || Cl->type != D->type || Cl->rows != D->rows || Cl->cols != D->cols || Cl->ld != D->ld)
        return complain(kNotSupported, call, "only D = C (the same matrix and layout) is emulated");
    if (A->type != Cl->type || B->type != Cl->type) return complain(kNotSupported, call, "mixed storage types");
    int epi = desc->epilogue;
    if (epi != kLtEpilogueDefault && epi != kLtEpilogueBias && epi != kLtEpilogueGeluAuxBias && epi != kLtEpilogueDGelu)
        return complain(kNotSupported, call, "epilogue not emulated");
    if ((epi == kLtEpilogueBias || epi == kLtEpilogueGeluAuxBias) && !desc->bias)
        return complain(kInvalidValue, call, "bias epilogue without a bias pointer");
    // A GPU's epilogue loads the bias in 16-byte vectors: a misaligned one is a
    // misaligned-address fault there, which poisons the context.
    if ((epi == kLtEpilogueBias || epi == kLtEpilogueGeluAuxBias) && reinterpret_cast<uintptr_t>(desc->bias) % 16 != 0)
        return complain(kInvalidValue, call, "bias pointer not 16-byte aligned");
    if ((epi == kLtEpilogueGeluAuxBias || epi == kLtEpilogueDGelu) &&
        (!desc->aux || desc->auxld < (long long)Cl->rows || desc->auxld % 8 != 0))
        return complain(kInvalidValue, call, "GELU_AUX_BIAS and DGELU need an aux pointer and an aux ld >= rows, a multiple of 8");
    int m = (int)Cl->rows, n = (int)Cl->cols;
    int k = (int)(desc->ta == kOpN ? A->cols : A->rows);
    if ((desc->ta == kOpN ? A->rows : A->cols) != (uint64_t)m || (desc->tb == kOpN ? B->rows : B->cols) != (uint64_t)k ||
        (desc->tb == kOpN ? B->cols : B->rows) != (uint64_t)n)
        return complain(kInvalidValue, call, "the layouts' shapes do not chain");
    Gemm g{desc->ta, desc->tb, m, n, k, *static_cast<const float*>(alpha), *static_cast<const float*>(beta), a, b, d,
           (int)A->ld, (int)B->ld, (int)Cl->ld, false};
    g.bf16 = Cl->type == kR16BF;
    if (epi == kLtEpilogueBias || epi == kLtEpilogueGeluAuxBias) g.bias = desc->bias;
    if (epi == kLtEpilogueGeluAuxBias || epi == kLtEpilogueDGelu) {
        g.aux = desc->aux;
        g.auxld = desc->auxld;
        g.gelu = epi == kLtEpilogueGeluAuxBias;
        g.dgelu = epi == kLtEpilogueDGelu;
    }
    if (int s = validate(call, g)) return s;
    if (m == 0 || n == 0) return kSuccess;
    CUcontext cur = nullptr;
    cuCtxGetCurrent(&cur);
    if (cur != hd->ctx) return complain(kExecutionFailed, call, "called with another context current than the handle's");
    return emu::enqueue(stream, [g] { g.run(); }) == CUDA_SUCCESS ? kSuccess : kExecutionFailed;
}

}  // extern "C"
