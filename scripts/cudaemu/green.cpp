// cudaemu: green contexts (CUDA 12.4), handed out by cuGetProcAddress as the
// real driver does: SM resources split into groups as the driver splits them,
// each group made a context of its own (whose kernels, as every context's
// here, run on all the host's cores). The resource layout is the 12.4 ABI's
// CUdevResource (144 bytes), which runtime/device/cuda/green.go declares too.
// What the driver documents and baton relies on is kept: several groups make
// one green context only if they come from one split, and a green context
// reports the SMs it holds.
#include <atomic>
#include <cstring>

#include "emu.h"

namespace emu {
struct Ctx;
Ctx* newGreenCtx(int dev);
CUresult destroyCtx(Ctx* c);
int deviceSMs(int dev);
}  // namespace emu

namespace {

struct DevResource {
    int type;  // 1: SMs
    unsigned char pad[92];
    union {
        struct {
            unsigned smCount;
        } sm;
        unsigned char oversize[48];
    } u;
};
static_assert(sizeof(DevResource) == 144, "CUdevResource is 144 bytes");

// A resource description: the emulator runs every context on all the host's
// cores, so it keeps only how many SMs are described.
struct Desc {
    unsigned sms;
};

struct Green {
    emu::Ctx* ctx;
    unsigned sms;
};

// Every split's outputs carry its number in the resource's padding (the
// driver's own bookkeeping lives there too), so that generateDesc can tell
// groups of one split from groups of several; 0 is a device's whole resource.
std::atomic<unsigned> splits{0};
void setSplit(DevResource* r, unsigned id) { memcpy(r->pad, &id, sizeof id); }
unsigned splitOf(const DevResource* r) {
    unsigned id;
    memcpy(&id, r->pad, sizeof id);
    return id;
}

constexpr unsigned kGranularity = 8;  // SMs per group on compute capability 9.0
constexpr CUresult kInvalidResourceConfiguration = static_cast<CUresult>(915);

CUresult getDevResource(CUdevice d, DevResource* r, int type) {
    if (type != 1) return CUDA_ERROR_INVALID_VALUE;
    int sms = emu::deviceSMs(d);
    if (sms == 0) return CUDA_ERROR_INVALID_DEVICE;
    memset(r, 0, sizeof *r);
    r->type = 1;
    r->u.sm.smCount = sms;
    return CUDA_SUCCESS;
}

CUresult splitByCount(DevResource* result, unsigned* nbGroups, const DevResource* input, DevResource* remaining,
                      unsigned flags, unsigned minCount) {
    if (!nbGroups || !input || input->type != 1 || flags != 0) return CUDA_ERROR_INVALID_VALUE;
    unsigned count = (minCount + kGranularity - 1) / kGranularity * kGranularity;
    if (count == 0) count = kGranularity;
    unsigned fit = input->u.sm.smCount / count;
    if (fit == 0) return kInvalidResourceConfiguration;
    unsigned n = result ? (*nbGroups < fit ? *nbGroups : fit) : fit;
    unsigned id = ++splits;
    for (unsigned i = 0; result && i < n; i++) {
        memset(&result[i], 0, sizeof result[i]);
        result[i].type = 1;
        result[i].u.sm.smCount = count;
        setSplit(&result[i], id);
    }
    if (remaining) {
        memset(remaining, 0, sizeof *remaining);
        remaining->type = 1;
        remaining->u.sm.smCount = input->u.sm.smCount - n * count;
        setSplit(remaining, id);
    }
    *nbGroups = n;
    return CUDA_SUCCESS;
}

CUresult generateDesc(Desc** out, DevResource* rs, unsigned n) {
    if (!out || !rs || n == 0) return CUDA_ERROR_INVALID_VALUE;
    unsigned sms = 0;
    for (unsigned i = 0; i < n; i++) {
        if (rs[i].type != 1) return CUDA_ERROR_INVALID_VALUE;
        if (n > 1 && (splitOf(&rs[i]) == 0 || splitOf(&rs[i]) != splitOf(&rs[0])))
            return kInvalidResourceConfiguration;  // SM groups combine only within one split
        sms += rs[i].u.sm.smCount;
    }
    *out = new Desc{sms};
    return CUDA_SUCCESS;
}

CUresult greenCreate(Green** out, Desc* desc, CUdevice d, unsigned flags) {
    if (!out || !desc || flags != 1) return CUDA_ERROR_INVALID_VALUE;  // CU_GREEN_CTX_DEFAULT_STREAM is required
    if (emu::deviceSMs(d) == 0) return CUDA_ERROR_INVALID_DEVICE;
    *out = new Green{emu::newGreenCtx(d), desc->sms};
    return CUDA_SUCCESS;
}

CUresult greenGetResource(Green* g, DevResource* r, int type) {
    if (!g || !r) return CUDA_ERROR_INVALID_VALUE;
    if (type != 1) return CUDA_ERROR_INVALID_VALUE;
    memset(r, 0, sizeof *r);
    r->type = 1;
    r->u.sm.smCount = g->sms;
    return CUDA_SUCCESS;
}

CUresult ctxFromGreen(CUcontext* out, Green* g) {
    if (!out || !g) return CUDA_ERROR_INVALID_VALUE;
    *out = reinterpret_cast<CUcontext>(g->ctx);
    return CUDA_SUCCESS;
}

CUresult greenDestroy(Green* g) {
    if (!g) return CUDA_ERROR_INVALID_VALUE;
    CUresult r = emu::destroyCtx(g->ctx);
    delete g;
    return r;
}

}  // namespace

extern "C" CUresult CUDAAPI cuGetProcAddress(const char* symbol, void** pfn, int version, cuuint64_t flags) {
    (void)flags;
    if (version < 12040) return CUDA_ERROR_NOT_FOUND;
    struct {
        const char* name;
        void* fn;
    } table[] = {
        {"cuDeviceGetDevResource", reinterpret_cast<void*>(&getDevResource)},
        {"cuDevSmResourceSplitByCount", reinterpret_cast<void*>(&splitByCount)},
        {"cuDevResourceGenerateDesc", reinterpret_cast<void*>(&generateDesc)},
        {"cuGreenCtxCreate", reinterpret_cast<void*>(&greenCreate)},
        {"cuCtxFromGreenCtx", reinterpret_cast<void*>(&ctxFromGreen)},
        {"cuGreenCtxDestroy", reinterpret_cast<void*>(&greenDestroy)},
        {"cuGreenCtxGetDevResource", reinterpret_cast<void*>(&greenGetResource)},
    };
    for (auto& e : table)
        if (strcmp(symbol, e.name) == 0) {
            *pfn = e.fn;
            return CUDA_SUCCESS;
        }
    *pfn = nullptr;
    return CUDA_ERROR_NOT_FOUND;
}
