// cudaemu: the CUDA driver API that baton calls, on the host CPU. Each stream is
// a queue worked through by an OS thread of its own, in order; events mark
// places in those queues; device memory is host memory between guard pages,
// filled with NaNs when made; kernels are the .cu sources compiled for the host
// (block.cpp), found by their PTX entry names. A stream may capture its work
// into a graph instead of running it (cuStreamBeginCapture), and a graph's
// instance replays that work, in order, on any stream of its context. Every check the real driver makes
// that baton relies on (a current context, handles from the right context,
// launch bounds, sizes) answers with the driver's error code, and a line on
// stderr saying what was wrong.
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "emu.h"

namespace emu {

using Clock = std::chrono::steady_clock;

struct Ctx;

// A capture in progress on a stream (cuStreamBeginCapture): the work enqueued
// on the stream since, kept instead of run, until cuStreamEndCapture makes it
// a graph. An error that the driver says invalidates the capture marks it so:
// later work on the stream is refused, and ending it gives no graph.
struct Capture {
    uint64_t id = 0;
    CUstreamCaptureMode mode = CU_STREAM_CAPTURE_MODE_GLOBAL;
    std::thread::id thread;  // the thread that began it
    bool invalidated = false;
    std::vector<std::function<void()>> nodes;
};

// A graph (CUgraph) is the work of one capture, in stream order; an
// instance of one (CUgraphExec) shares it, so that destroying either while a
// launch is queued leaves the launch its work, as the driver does.
using Nodes = std::shared_ptr<const std::vector<std::function<void()>>>;
struct Graph {
    Ctx* ctx = nullptr;
    Nodes nodes;
};
struct GraphExec {
    Ctx* ctx = nullptr;
    Nodes nodes;
};

struct Stream {
    Ctx* ctx = nullptr;
    bool blocking = true;  // synchronises with the legacy default stream
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::function<void()>> queue;
    uint64_t enqueued = 0, done = 0;
    bool stop = false;
    std::thread worker;
    std::shared_ptr<Capture> capture;  // guarded by the driver's mu

    void run() {
        for (;;) {
            std::function<void()> work;
            {
                std::unique_lock<std::mutex> l(mu);
                cv.wait(l, [&] { return stop || !queue.empty(); });
                if (queue.empty()) return;
                work = std::move(queue.front());
            }
            work();
            {
                std::lock_guard<std::mutex> l(mu);
                queue.pop_front();
                done++;
            }
            cv.notify_all();
        }
    }
    void waitFor(uint64_t seq) {
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [&] { return done >= seq; });
    }
    uint64_t push(std::function<void()> work) {
        uint64_t seq;
        {
            std::lock_guard<std::mutex> l(mu);
            queue.push_back(std::move(work));
            seq = ++enqueued;
        }
        cv.notify_all();
        return seq;
    }
    uint64_t tail() {
        std::lock_guard<std::mutex> l(mu);
        return enqueued;
    }
    void shutdown() {
        {
            std::lock_guard<std::mutex> l(mu);
            stop = true;
        }
        cv.notify_all();
        if (worker.joinable()) worker.join();
    }
};

struct Ctx {
    int dev = 0;
    std::shared_ptr<Stream> legacy;
    std::set<std::shared_ptr<Stream>> streams;
    std::set<Ctx*> peers;
};

// A place in a stream's queue, and the time the stream reached it.
struct Mark {
    std::shared_ptr<Stream> stream;
    uint64_t seq = 0;
    uint64_t capture = 0;  // nonzero: recorded in that capture, so never reached
    std::atomic<int64_t> ns{0};
    bool reached() {
        std::lock_guard<std::mutex> l(stream->mu);
        return stream->done >= seq;
    }
};

struct Event {
    Ctx* ctx = nullptr;
    unsigned flags = 0;
    std::shared_ptr<Mark> mark;
};

struct Module {
    Ctx* ctx = nullptr;
    std::string image;
};

struct Function {
    Module* module = nullptr;
    std::string name;
    const Binder* binder = nullptr;
    unsigned maxThreads = 1024;  // .maxntid of the PTX entry
    int maxDynamicShared = 48 << 10;
};

struct Alloc {
    char* map = nullptr;
    size_t mapLen = 0, size = 0, rounded = 0;
    int dev = 0;
    Ctx* ctx = nullptr;  // freed with it, as the driver frees a context's memory
};

struct Device {
    std::unique_ptr<Ctx> primary;
    int primaryRefs = 0;
    size_t used = 0;
};

namespace {

constexpr unsigned char kCanary = 0xA5;

// The driver's state. It is never destroyed: a process may exit with
// contexts alive and their stream threads waiting, as it may with the real
// driver, and destructors run at exit must not stop those threads.
struct State {
    std::mutex mu;  // guards every table below
    bool initialised = false;
    std::vector<Device> devices;
    std::unordered_map<Ctx*, std::unique_ptr<Ctx>> contexts;  // plain and green; primaries live in devices
    std::unordered_map<Stream*, std::shared_ptr<Stream>> streams;
    std::unordered_map<Event*, std::unique_ptr<Event>> events;
    std::unordered_map<Module*, std::unique_ptr<Module>> modules;
    std::unordered_map<Function*, std::unique_ptr<Function>> functions;
    std::map<uintptr_t, Alloc> allocs;   // by device address
    std::map<uintptr_t, size_t> pinned;  // host allocations made by the driver
    std::unordered_map<Graph*, std::unique_ptr<Graph>> graphs;
    std::unordered_map<GraphExec*, std::unique_ptr<GraphExec>> execs;
    uint64_t captures = 0;  // captures begun: their ids
};
State& state = *new State;
std::mutex& mu = state.mu;
bool& initialised = state.initialised;
std::vector<Device>& devices = state.devices;
auto& contexts = state.contexts;
auto& streams = state.streams;
auto& events = state.events;
auto& modules = state.modules;
auto& functions = state.functions;
auto& allocs = state.allocs;
auto& pinned = state.pinned;
auto& graphs = state.graphs;
auto& execs = state.execs;
thread_local std::vector<Ctx*> ctxStack;

long envLong(const char* name, long def) {
    const char* v = getenv(name);
    return v && *v ? strtol(v, nullptr, 10) : def;
}

int numDevices() { return (int)envLong("CUDAEMU_DEVICES", 1); }
int numSMs() { return (int)envLong("CUDAEMU_SMS", 32); }
size_t totalMemory() { return (size_t)envLong("CUDAEMU_MEMORY_MIB", 80 << 10) << 20; }

// enter counts a call of a driver entry point, for CUDAEMU_STATS, and fails
// the Nth call of one of them when CUDAEMU_FAIL=NAME:N is set, with the error
// a GPU would give it (out of memory for allocations): how baton copes with
// each failure can then be tested without a GPU.
std::mutex statsMu;
std::map<std::string, long>& callCounts = *new std::map<std::string, long>;

CUresult enter(const char* name) {
    long calls;
    {
        std::lock_guard<std::mutex> l(statsMu);
        calls = ++callCounts[name];
    }
    static const char* spec = getenv("CUDAEMU_FAIL");
    if (!spec || !*spec) return CUDA_SUCCESS;
    const char* colon = strchr(spec, ':');
    if (!colon || strncmp(spec, name, colon - spec) != 0 || name[colon - spec] != 0) return CUDA_SUCCESS;
    if (calls != strtol(colon + 1, nullptr, 10)) return CUDA_SUCCESS;
    fprintf(stderr, "cudaemu: CUDAEMU_FAIL: failing call %ld of %s\n", calls, name);
    if (strstr(name, "Alloc")) return CUDA_ERROR_OUT_OF_MEMORY;
    if (strstr(name, "Launch")) return CUDA_ERROR_LAUNCH_FAILED;
    return CUDA_ERROR_UNKNOWN;
}

// writeStats writes the calls counted so far to $CUDAEMU_STATS, one "name
// count" line each: when a context goes, since a Go program exits without
// running the library's destructors.
void writeStats() {
    const char* path = getenv("CUDAEMU_STATS");
    if (!path || !*path) return;
    std::string tmp = std::string(path) + ".tmp";
    FILE* f = fopen(tmp.c_str(), "w");
    if (!f) return;
    {
        std::lock_guard<std::mutex> l(statsMu);
        for (auto& c : callCounts) fprintf(f, "%s %ld\n", c.first.c_str(), c.second);
    }
    fclose(f);
    rename(tmp.c_str(), path);
}

// say writes one line on stderr; the driver's error code goes back to the caller.
CUresult say(CUresult r, const char* fmt, ...) {
    fprintf(stderr, "cudaemu: ");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return r;
}

Ctx* current() { return ctxStack.empty() ? nullptr : ctxStack.back(); }

bool knownCtx(Ctx* c) {
    if (!c) return false;
    if (contexts.count(c)) return true;
    for (auto& d : devices)
        if (d.primary.get() == c) return true;
    return false;
}

std::shared_ptr<Stream> newStream(Ctx* c, bool blocking) {
    auto s = std::make_shared<Stream>();
    s->ctx = c;
    s->blocking = blocking;
    s->worker = std::thread([p = s.get()] { p->run(); });
    return s;
}

void initCtx(Ctx* c, int dev) {
    c->dev = dev;
    c->legacy = newStream(c, true);
}

bool isDefault(CUstream h) { return h == nullptr || h == CU_STREAM_LEGACY || h == CU_STREAM_PER_THREAD; }

// anyStream maps a stream handle to its queue: a default handle to c's
// legacy stream (none when c is null), any other to the stream made under it,
// of whichever context; nullptr if there is none.
std::shared_ptr<Stream> anyStream(Ctx* c, CUstream h) {
    if (isDefault(h)) return c ? c->legacy : nullptr;
    auto it = streams.find(reinterpret_cast<Stream*>(h));
    return it == streams.end() ? nullptr : it->second;
}

// resolve is anyStream for a stream that must belong to c.
std::shared_ptr<Stream> resolve(Ctx* c, CUstream h) {
    auto s = anyStream(c, h);
    return s && s->ctx == c ? s : nullptr;
}

// currentStream finds the current context and its stream h for op, which
// work is about to be enqueued on; it says why and returns the driver's
// error when either is missing. mu is held.
CUresult currentStream(const std::string& op, CUstream h, Ctx** c, std::shared_ptr<Stream>* s) {
    *c = current();
    if (!*c) return say(CUDA_ERROR_INVALID_CONTEXT, "%s: no current context", op.c_str());
    *s = resolve(*c, h);
    if (!*s)
        return say(CUDA_ERROR_INVALID_HANDLE, "%s: stream %p is not a stream of the current context", op.c_str(), (void*)h);
    return CUDA_SUCCESS;
}

// The waits that give the legacy default stream its meaning: work on it waits
// for every blocking stream of its context, and work on a blocking stream
// waits for it.
std::vector<std::pair<std::shared_ptr<Stream>, uint64_t>> implicitWaits(Ctx* c, const std::shared_ptr<Stream>& s) {
    std::vector<std::pair<std::shared_ptr<Stream>, uint64_t>> w;
    if (s == c->legacy) {
        for (auto& o : c->streams)
            if (o->blocking) w.push_back({o, o->tail()});
    } else if (s->blocking) {
        w.push_back({c->legacy, c->legacy->tail()});
    }
    return w;
}

// push enqueues work on s, or adds it to s's capture (returning 0: no place
// in the queue). mu is held; captureGate has let the work through.
uint64_t push(Ctx* c, const std::shared_ptr<Stream>& s, std::function<void()> work) {
    if (s->capture) {
        s->capture->nodes.push_back(std::move(work));
        return 0;
    }
    auto waits = implicitWaits(c, s);
    if (waits.empty()) return s->push(std::move(work));
    return s->push([waits, work = std::move(work)] {
        for (auto& w : waits) w.first->waitFor(w.second);
        work();
    });
}

// invalidate ends the usefulness of a capture: what the driver does on an
// error during one. Its stream keeps capturing (refusing work) until
// cuStreamEndCapture.
void invalidate(const std::shared_ptr<Capture>& cap) {
    if (cap) cap->invalidated = true;
}

// unsafeCall is the driver's rule for "potentially unsafe" calls (a
// synchronous copy or memset, an allocation, a free, a context-wide
// synchronisation) during a capture: refused, and the capture invalidated,
// when the calling thread began a capture in global or thread-local mode, or
// any thread began one in global mode. mu is held.
CUresult unsafeCall(const char* op) {
    CUresult r = CUDA_SUCCESS;
    for (auto& st : streams) {
        auto& cap = st.second->capture;
        if (!cap || cap->invalidated) continue;
        bool mine = cap->thread == std::this_thread::get_id() && cap->mode != CU_STREAM_CAPTURE_MODE_RELAXED;
        if (mine || cap->mode == CU_STREAM_CAPTURE_MODE_GLOBAL) {
            invalidate(cap);
            r = say(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "%s: not permitted while a stream is capturing (capture %llu invalidated)", op,
                    (unsigned long long)cap->id);
        }
    }
    return r;
}

// captureGate checks work about to be enqueued on s (of context c) against
// the captures: refused on a stream whose capture was invalidated; on the
// legacy stream, refused while a blocking stream of its context captures
// (the implicit dependency the driver forbids, which invalidates that
// capture). mu is held.
CUresult captureGate(const char* op, Ctx* c, const std::shared_ptr<Stream>& s) {
    if (s->capture && s->capture->invalidated)
        return say(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "%s: the stream's capture was invalidated by an earlier error", op);
    if (s != c->legacy) return CUDA_SUCCESS;
    CUresult r = CUDA_SUCCESS;
    for (auto& o : c->streams)
        if (o->capture && o->blocking) {
            invalidate(o->capture);
            r = say(CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, "%s: the legacy stream while a blocking stream of its context captures", op);
        }
    return r;
}

void syncCtx(Ctx* c) {
    std::vector<std::pair<std::shared_ptr<Stream>, uint64_t>> tails;
    {
        std::lock_guard<std::mutex> l(mu);
        tails.push_back({c->legacy, c->legacy->tail()});
        for (auto& s : c->streams) tails.push_back({s, s->tail()});
    }
    for (auto& t : tails) t.first->waitFor(t.second);
}

void syncDevice(int dev) {
    std::vector<Ctx*> cs;
    {
        std::lock_guard<std::mutex> l(mu);
        if (devices[dev].primary) cs.push_back(devices[dev].primary.get());
        for (auto& c : contexts)
            if (c.first->dev == dev) cs.push_back(c.first);
    }
    for (Ctx* c : cs) syncCtx(c);
}

// releaseCtx frees what a context holds, as the driver does when it destroys
// one (or a primary context's last reference goes): its streams, events,
// modules and memory. Handles to them are invalid afterwards, so a use after
// that fails here as it would on a GPU. Its work is done (syncCtx) and mu held.
void releaseCtx(Ctx* c) {
    for (auto& s : c->streams) {
        s->shutdown();
        streams.erase(s.get());
    }
    c->streams.clear();
    c->legacy->shutdown();
    c->peers.clear();
    for (auto it = events.begin(); it != events.end();) it = it->second->ctx == c ? events.erase(it) : std::next(it);
    for (auto it = functions.begin(); it != functions.end();)
        it = it->first->module->ctx == c ? functions.erase(it) : std::next(it);
    for (auto it = modules.begin(); it != modules.end();) it = it->second->ctx == c ? modules.erase(it) : std::next(it);
    for (auto it = graphs.begin(); it != graphs.end();) it = it->second->ctx == c ? graphs.erase(it) : std::next(it);
    for (auto it = execs.begin(); it != execs.end();) it = it->second->ctx == c ? execs.erase(it) : std::next(it);
    for (auto it = allocs.begin(); it != allocs.end();) {
        if (it->second.ctx != c) {
            ++it;
            continue;
        }
        devices[it->second.dev].used -= it->second.rounded;
        munmap(it->second.map, it->second.mapLen);
        it = allocs.erase(it);
    }
}

// deviceRange checks that [p, p+n) lies in one device allocation.
bool deviceRange(uintptr_t p, size_t n) {
    auto it = allocs.upper_bound(p);
    if (it == allocs.begin()) return false;
    --it;
    return p >= it->first && p + n <= it->first + it->second.size;
}

bool pinnedRange(const void* h, size_t n) {
    uintptr_t p = reinterpret_cast<uintptr_t>(h);
    auto it = pinned.upper_bound(p);
    if (it == pinned.begin()) return false;
    --it;
    return p + n <= it->first + it->second;
}

// Enqueues a copy of n bytes on stream h of the current context, after checking
// that device-side ranges are device memory. Host→device copies from pageable
// memory take the bytes at once (the driver stages them); device→host copies to
// pageable memory return when done, as the driver's do.
CUresult copyAsync(const char* op, uintptr_t dst, bool dstDevice, uintptr_t src, bool srcDevice, size_t n, CUstream h,
                   bool sync) {
    if (CUresult r = enter(op)) return r;
    std::shared_ptr<Stream> s;
    Ctx* c;
    uint64_t seq;
    {
        std::lock_guard<std::mutex> l(mu);
        if (CUresult r = currentStream(op, h, &c, &s)) return r;
        if (dstDevice && !deviceRange(dst, n))
            return say(CUDA_ERROR_INVALID_VALUE, "%s: destination [%#lx, +%zu) is not inside one device allocation", op,
                       (unsigned long)dst, n);
        if (srcDevice && !deviceRange(src, n))
            return say(CUDA_ERROR_INVALID_VALUE, "%s: source [%#lx, +%zu) is not inside one device allocation", op,
                       (unsigned long)src, n);
        if (sync)
            if (CUresult r = unsafeCall(op)) return r;
        if (CUresult r = captureGate(op, c, s)) return r;
        if (n == 0) return CUDA_SUCCESS;
        if (s->capture && ((!srcDevice && !pinnedRange(reinterpret_cast<void*>(src), n)) ||
                           (!dstDevice && !pinnedRange(reinterpret_cast<void*>(dst), n)))) {
            // A graph would read or write that memory long after the call:
            // the driver captures copies of pinned host memory only.
            invalidate(s->capture);
            return say(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "%s: a copy of pageable host memory on a capturing stream", op);
        }
        if (!srcDevice && !sync && !pinnedRange(reinterpret_cast<void*>(src), n)) {
            auto staged = std::make_shared<std::vector<char>>(reinterpret_cast<char*>(src), reinterpret_cast<char*>(src) + n);
            seq = push(c, s, [dst, staged] { memcpy(reinterpret_cast<void*>(dst), staged->data(), staged->size()); });
            return CUDA_SUCCESS;
        }
        seq = push(c, s, [dst, src, n] { memmove(reinterpret_cast<void*>(dst), reinterpret_cast<void*>(src), n); });
        if (!dstDevice && !pinnedRange(reinterpret_cast<void*>(dst), n)) sync = true;
    }
    if (sync) s->waitFor(seq);
    return CUDA_SUCCESS;
}

CUresult memsetAsync(const char* op, uintptr_t dst, size_t width, size_t height, size_t pitch, unsigned elem, uint32_t value,
                CUstream h, bool sync) {
    if (CUresult r = enter(op)) return r;
    std::shared_ptr<Stream> s;
    uint64_t seq;
    {
        std::lock_guard<std::mutex> l(mu);
        Ctx* c;
        if (CUresult r = currentStream(op, h, &c, &s)) return r;
        if (sync)
            if (CUresult r = unsafeCall(op)) return r;
        if (CUresult r = captureGate(op, c, s)) return r;
        if (height > 0 && width > 0) {
            if (height > 1 && pitch < width * elem) return say(CUDA_ERROR_INVALID_VALUE, "%s: pitch %zu < width", op, pitch);
            if (!deviceRange(dst, (height - 1) * pitch + width * elem))
                return say(CUDA_ERROR_INVALID_VALUE, "%s: [%#lx, %zu rows of %zu) is not inside one device allocation", op,
                           (unsigned long)dst, height, width * elem);
        }
        seq = push(c, s, [=] {
            for (size_t r = 0; r < height; r++) {
                char* row = reinterpret_cast<char*>(dst + r * pitch);
                for (size_t i = 0; i < width; i++) memcpy(row + i * elem, &value, elem);
            }
        });
    }
    if (sync) s->waitFor(seq);
    return CUDA_SUCCESS;
}

// entryOf finds ".entry name(" in a PTX image, and its .maxntid if any.
bool entryOf(const std::string& ptx, const char* name, unsigned* maxThreads) {
    std::string key = std::string(".entry ") + name + "(";
    size_t at = ptx.find(key);
    if (at == std::string::npos) return false;
    size_t body = ptx.find('{', at);
    size_t bound = ptx.find(".maxntid", at);
    *maxThreads = 1024;
    if (bound != std::string::npos && bound < body) {
        unsigned x = 1, y = 1, z = 1;
        sscanf(ptx.c_str() + bound, ".maxntid %u, %u, %u", &x, &y, &z);
        *maxThreads = x * y * z;
    }
    return true;
}

}  // namespace

CUresult enqueue(CUstream h, std::function<void()> work) {
    std::lock_guard<std::mutex> l(mu);
    Ctx* c;
    std::shared_ptr<Stream> s;
    if (CUresult r = currentStream("cuBLAS", h, &c, &s)) return r;
    if (CUresult r = captureGate("cuBLAS", c, s)) return r;
    push(c, s, std::move(work));
    return CUDA_SUCCESS;
}

// Green contexts (green.cpp) are contexts like any other here: every context's
// kernels run on all of the host's cores, whatever SMs it was given.
Ctx* newGreenCtx(int dev) {
    std::lock_guard<std::mutex> l(mu);
    auto c = std::make_unique<Ctx>();
    initCtx(c.get(), dev);
    Ctx* p = c.get();
    contexts[p] = std::move(c);
    return p;
}

CUresult destroyCtx(Ctx* c) {
    syncCtx(c);
    std::lock_guard<std::mutex> l(mu);
    auto it = contexts.find(c);
    if (it == contexts.end()) return say(CUDA_ERROR_INVALID_CONTEXT, "destroying a context that does not exist");
    releaseCtx(c);
    for (auto& o : contexts) o.first->peers.erase(c);
    for (auto& d : devices)
        if (d.primary) d.primary->peers.erase(c);
    contexts.erase(it);
    for (auto& e : ctxStack)
        if (e == c) e = nullptr;
    writeStats();
    return CUDA_SUCCESS;
}

bool validDevice(int dev) { return dev >= 0 && dev < (int)devices.size(); }
int deviceSMs(int dev) { return validDevice(dev) ? numSMs() : 0; }

}  // namespace emu

using namespace emu;

extern "C" {

CUresult CUDAAPI cuInit(unsigned int flags) {
    if (flags != 0) return say(CUDA_ERROR_INVALID_VALUE, "cuInit: flags must be 0");
    std::lock_guard<std::mutex> l(mu);
    if (!initialised) {
        devices.resize(numDevices());
        initialised = true;
    }
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDriverGetVersion(int* v) {
    *v = 12080;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetCount(int* n) {
    if (!initialised) return CUDA_ERROR_NOT_INITIALIZED;
    *n = (int)devices.size();
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGet(CUdevice* d, int ordinal) {
    if (!initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (!validDevice(ordinal)) return CUDA_ERROR_INVALID_DEVICE;
    *d = ordinal;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetName(char* name, int len, CUdevice d) {
    if (!validDevice(d)) return CUDA_ERROR_INVALID_DEVICE;
    snprintf(name, len, "cudaemu %d (emulated on the CPU)", d);
    return CUDA_SUCCESS;
}

// A device's UUID is the same in every process, as a GPU's is: its ordinal
// in the last byte of a fixed pattern.
CUresult CUDAAPI cuDeviceGetUuid(CUuuid* uuid, CUdevice d) {
    if (!validDevice(d)) return CUDA_ERROR_INVALID_DEVICE;
    for (int i = 0; i < 16; i++) uuid->bytes[i] = (char)(0xc0 + i);
    uuid->bytes[15] = (char)d;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceTotalMem(size_t* bytes, CUdevice d) {
    if (!validDevice(d)) return CUDA_ERROR_INVALID_DEVICE;
    *bytes = totalMemory();
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetAttribute(int* v, CUdevice_attribute a, CUdevice d) {
    if (!validDevice(d)) return CUDA_ERROR_INVALID_DEVICE;
    switch (a) {
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *v = numSMs(); break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = 9; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = 0; break;
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *v = 1024; break;
    case CU_DEVICE_ATTRIBUTE_WARP_SIZE: *v = 32; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK: *v = 48 << 10; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: *v = 227 << 10; break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X:
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y: *v = 1024; break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z: *v = 64; break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X: *v = 0x7fffffff; break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y:
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z: *v = 65535; break;
    case CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING: *v = 1; break;
    // An H100 SXM's HBM3, so that 2 x clock x width, the peak bandwidth CUDA's
    // samples derive, is its 3.35 TB/s (kernels/cuda's memory-bound benchmarks).
    case CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE: *v = 2619000; break; // kHz
    case CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH: *v = 5120; break; // bits
    default: return say(CUDA_ERROR_INVALID_VALUE, "cuDeviceGetAttribute: attribute %d is not emulated", (int)a);
    }
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceCanAccessPeer(int* can, CUdevice d, CUdevice peer) {
    if (!validDevice(d) || !validDevice(peer)) return CUDA_ERROR_INVALID_DEVICE;
    *can = d != peer && envLong("CUDAEMU_PEER", 1) != 0;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxRetain(CUcontext* out, CUdevice d) {
    std::lock_guard<std::mutex> l(mu);
    if (!validDevice(d)) return CUDA_ERROR_INVALID_DEVICE;
    Device& dev = devices[d];
    if (!dev.primary) {
        dev.primary = std::make_unique<Ctx>();
        initCtx(dev.primary.get(), d);
    } else if (dev.primaryRefs == 0) {
        dev.primary->legacy = newStream(dev.primary.get(), true);  // made again, under the same handle
    }
    dev.primaryRefs++;
    *out = reinterpret_cast<CUcontext>(dev.primary.get());
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxRelease(CUdevice d) {
    if (!validDevice(d)) return CUDA_ERROR_INVALID_DEVICE;
    Ctx* c;
    {
        std::lock_guard<std::mutex> l(mu);
        if (devices[d].primaryRefs == 0) return say(CUDA_ERROR_INVALID_CONTEXT, "cuDevicePrimaryCtxRelease: not retained");
        c = devices[d].primary.get();
        if (devices[d].primaryRefs > 1) {
            devices[d].primaryRefs--;
            return CUDA_SUCCESS;
        }
    }
    syncCtx(c);
    std::lock_guard<std::mutex> l(mu);
    if (--devices[d].primaryRefs == 0) releaseCtx(c);  // the last reference: the context goes
    writeStats();
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxCreate(CUcontext* out, unsigned int flags, CUdevice d) {
    if (CUresult r = enter("cuCtxCreate")) return r;
    (void)flags;
    std::lock_guard<std::mutex> l(mu);
    if (!validDevice(d)) return CUDA_ERROR_INVALID_DEVICE;
    auto c = std::make_unique<Ctx>();
    initCtx(c.get(), d);
    Ctx* p = c.get();
    contexts[p] = std::move(c);
    ctxStack.push_back(p);
    *out = reinterpret_cast<CUcontext>(p);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxDestroy(CUcontext h) {
    Ctx* c = reinterpret_cast<Ctx*>(h);
    CUresult r = destroyCtx(c);
    while (!ctxStack.empty() && ctxStack.back() == nullptr) ctxStack.pop_back();
    return r;
}

CUresult CUDAAPI cuCtxGetCurrent(CUcontext* out) {
    *out = reinterpret_cast<CUcontext>(current());
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxSetCurrent(CUcontext h) {
    Ctx* c = reinterpret_cast<Ctx*>(h);
    std::lock_guard<std::mutex> l(mu);
    if (c && !knownCtx(c)) return say(CUDA_ERROR_INVALID_CONTEXT, "cuCtxSetCurrent: %p is not a context", (void*)h);
    if (!c) {
        if (!ctxStack.empty()) ctxStack.pop_back();
    } else if (ctxStack.empty()) {
        ctxStack.push_back(c);
    } else {
        ctxStack.back() = c;
    }
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxPushCurrent(CUcontext h) {
    Ctx* c = reinterpret_cast<Ctx*>(h);
    std::lock_guard<std::mutex> l(mu);
    if (!knownCtx(c)) return say(CUDA_ERROR_INVALID_CONTEXT, "cuCtxPushCurrent: %p is not a context", (void*)h);
    ctxStack.push_back(c);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxPopCurrent(CUcontext* out) {
    if (ctxStack.empty()) return say(CUDA_ERROR_INVALID_CONTEXT, "cuCtxPopCurrent: no current context");
    if (out) *out = reinterpret_cast<CUcontext>(ctxStack.back());
    ctxStack.pop_back();
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetDevice(CUdevice* d) {
    Ctx* c = current();
    if (!c) return CUDA_ERROR_INVALID_CONTEXT;
    *d = c->dev;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxSynchronize(void) {
    if (CUresult r = enter("cuCtxSynchronize")) return r;
    Ctx* c = current();
    if (!c) return CUDA_ERROR_INVALID_CONTEXT;
    {
        std::lock_guard<std::mutex> l(mu);
        if (CUresult r = unsafeCall("cuCtxSynchronize")) return r;
        for (auto& s : c->streams)
            if (s->capture) {
                invalidate(s->capture);
                return say(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuCtxSynchronize: a stream of the context is capturing");
            }
    }
    syncCtx(c);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxEnablePeerAccess(CUcontext h, unsigned int flags) {
    Ctx* peer = reinterpret_cast<Ctx*>(h);
    std::lock_guard<std::mutex> l(mu);
    Ctx* c = current();
    if (!c) return CUDA_ERROR_INVALID_CONTEXT;
    if (flags != 0 || !knownCtx(peer)) return CUDA_ERROR_INVALID_VALUE;
    if (peer->dev == c->dev || envLong("CUDAEMU_PEER", 1) == 0)
        return say(CUDA_ERROR_PEER_ACCESS_UNSUPPORTED, "cuCtxEnablePeerAccess: device %d cannot access device %d", c->dev,
                   peer->dev);
    if (!c->peers.insert(peer).second) return CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemGetInfo(size_t* free, size_t* total) {
    std::lock_guard<std::mutex> l(mu);
    Ctx* c = current();
    if (!c) return CUDA_ERROR_INVALID_CONTEXT;
    *total = totalMemory();
    *free = *total - devices[c->dev].used;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemAlloc(CUdeviceptr* out, size_t n) {
    if (CUresult r = enter("cuMemAlloc")) return r;
    std::lock_guard<std::mutex> l(mu);
    Ctx* c = current();
    if (!c) return say(CUDA_ERROR_INVALID_CONTEXT, "cuMemAlloc(%zu): no current context", n);
    if (CUresult r = unsafeCall("cuMemAlloc")) return r;
    if (n == 0) return CUDA_ERROR_INVALID_VALUE;
    Device& d = devices[c->dev];
    if (n > totalMemory() - d.used) {
        if (n <= totalMemory() && envLong("CUDAEMU_VERBOSE_OOM", 0))
            say(CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc(%zu): device %d has %zu of %zu bytes in use", n, c->dev, d.used, totalMemory());
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t rounded = (n + 255) / 256 * 256;
    size_t body = (rounded + page - 1) / page * page;
    size_t len = body + 2 * page;
    void* m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return say(CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc(%zu): mmap of %zu bytes: %s", n, len, strerror(errno));
    char* map = static_cast<char*>(m);
    mprotect(map, page, PROT_NONE);
    mprotect(map + page + body, page, PROT_NONE);
    char* p = map + page + body - rounded;  // the end meets the guard page
    memset(p, 0xff, n);                     // NaN, or -1: reads of memory never written show
    memset(p + n, kCanary, rounded - n);
    Alloc a;
    a.map = map;
    a.mapLen = len;
    a.size = n;
    a.rounded = rounded;
    a.dev = c->dev;
    a.ctx = c;
    allocs[reinterpret_cast<uintptr_t>(p)] = a;
    d.used += rounded;
    *out = reinterpret_cast<CUdeviceptr>(p);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemFree(CUdeviceptr p) {
    if (CUresult r = enter("cuMemFree")) return r;
    int dev;
    {
        std::lock_guard<std::mutex> l(mu);
        if (CUresult r = unsafeCall("cuMemFree")) return r;
        auto it = allocs.find(p);
        if (it == allocs.end()) return say(CUDA_ERROR_INVALID_VALUE, "cuMemFree(%#llx): not the start of an allocation", p);
        dev = it->second.dev;
    }
    syncDevice(dev);  // as the driver's cuMemFree: no queued work may still use it
    std::lock_guard<std::mutex> l(mu);
    auto it = allocs.find(p);
    if (it == allocs.end()) return say(CUDA_ERROR_INVALID_VALUE, "cuMemFree(%#llx): freed twice", p);
    Alloc& a = it->second;
    const unsigned char* tail = reinterpret_cast<const unsigned char*>(p) + a.size;
    for (size_t i = 0; i < a.rounded - a.size; i++)
        if (tail[i] != kCanary) {
            say(CUDA_ERROR_ILLEGAL_ADDRESS, "cuMemFree(%#llx): a kernel or copy wrote %zu bytes past the end of this %zu-byte allocation", p,
                i + 1, a.size);
            abort();
        }
    devices[a.dev].used -= a.rounded;
    munmap(a.map, a.mapLen);
    allocs.erase(it);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemHostAlloc(void** out, size_t n, unsigned int flags) {
    if (CUresult r = enter("cuMemHostAlloc")) return r;
    (void)flags;
    void* p = aligned_alloc(4096, (n + 4095) / 4096 * 4096);
    if (!p) return CUDA_ERROR_OUT_OF_MEMORY;
    std::lock_guard<std::mutex> l(mu);
    pinned[reinterpret_cast<uintptr_t>(p)] = n;
    *out = p;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemAllocHost(void** out, size_t n) { return cuMemHostAlloc(out, n, 0); }

CUresult CUDAAPI cuMemFreeHost(void* p) {
    {
        std::lock_guard<std::mutex> l(mu);
        if (!pinned.erase(reinterpret_cast<uintptr_t>(p)))
            return say(CUDA_ERROR_INVALID_VALUE, "cuMemFreeHost(%p): not pinned memory of the driver", p);
    }
    free(p);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemcpyHtoDAsync(CUdeviceptr dst, const void* src, size_t n, CUstream s) {
    return copyAsync("cuMemcpyHtoDAsync", dst, true, reinterpret_cast<uintptr_t>(src), false, n, s, false);
}
CUresult CUDAAPI cuMemcpyDtoHAsync(void* dst, CUdeviceptr src, size_t n, CUstream s) {
    return copyAsync("cuMemcpyDtoHAsync", reinterpret_cast<uintptr_t>(dst), false, src, true, n, s, false);
}
CUresult CUDAAPI cuMemcpyDtoDAsync(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
    return copyAsync("cuMemcpyDtoDAsync", dst, true, src, true, n, s, false);
}
CUresult CUDAAPI cuMemcpyHtoD(CUdeviceptr dst, const void* src, size_t n) {
    return copyAsync("cuMemcpyHtoD", dst, true, reinterpret_cast<uintptr_t>(src), false, n, nullptr, true);
}
CUresult CUDAAPI cuMemcpyDtoH(void* dst, CUdeviceptr src, size_t n) {
    return copyAsync("cuMemcpyDtoH", reinterpret_cast<uintptr_t>(dst), false, src, true, n, nullptr, true);
}
CUresult CUDAAPI cuMemcpyDtoD(CUdeviceptr dst, CUdeviceptr src, size_t n) {
    return copyAsync("cuMemcpyDtoD", dst, true, src, true, n, nullptr, true);
}

CUresult CUDAAPI cuMemcpyPeerAsync(CUdeviceptr dst, CUcontext dctx, CUdeviceptr src, CUcontext sctx, size_t n, CUstream s) {
    {
        std::lock_guard<std::mutex> l(mu);
        if (!knownCtx(reinterpret_cast<Ctx*>(dctx)) || !knownCtx(reinterpret_cast<Ctx*>(sctx)))
            return say(CUDA_ERROR_INVALID_CONTEXT, "cuMemcpyPeerAsync: a context that does not exist");
    }
    return copyAsync("cuMemcpyPeerAsync", dst, true, src, true, n, s, false);
}

CUresult CUDAAPI cuMemsetD32Async(CUdeviceptr dst, unsigned int v, size_t n, CUstream s) {
    return memsetAsync("cuMemsetD32Async", dst, n, 1, 0, 4, v, s, false);
}
CUresult CUDAAPI cuMemsetD8Async(CUdeviceptr dst, unsigned char v, size_t n, CUstream s) {
    return memsetAsync("cuMemsetD8Async", dst, n, 1, 0, 1, v, s, false);
}
CUresult CUDAAPI cuMemsetD2D32Async(CUdeviceptr dst, size_t pitch, unsigned int v, size_t w, size_t h, CUstream s) {
    return memsetAsync("cuMemsetD2D32Async", dst, w, h, pitch, 4, v, s, false);
}
CUresult CUDAAPI cuMemsetD32(CUdeviceptr dst, unsigned int v, size_t n) {
    return memsetAsync("cuMemsetD32", dst, n, 1, 0, 4, v, nullptr, true);
}
CUresult CUDAAPI cuMemsetD8(CUdeviceptr dst, unsigned char v, size_t n) {
    return memsetAsync("cuMemsetD8", dst, n, 1, 0, 1, v, nullptr, true);
}

CUresult CUDAAPI cuStreamCreate(CUstream* out, unsigned int flags) {
    if (CUresult r = enter("cuStreamCreate")) return r;
    std::lock_guard<std::mutex> l(mu);
    Ctx* c = current();
    if (!c) return say(CUDA_ERROR_INVALID_CONTEXT, "cuStreamCreate: no current context");
    auto s = newStream(c, (flags & CU_STREAM_NON_BLOCKING) == 0);
    c->streams.insert(s);
    streams[s.get()] = s;
    *out = reinterpret_cast<CUstream>(s.get());
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamCreateWithPriority(CUstream* out, unsigned int flags, int priority) {
    (void)priority;
    return cuStreamCreate(out, flags);
}

CUresult CUDAAPI cuStreamDestroy(CUstream h) {
    std::shared_ptr<Stream> s;
    {
        std::lock_guard<std::mutex> l(mu);
        auto it = streams.find(reinterpret_cast<Stream*>(h));
        if (it == streams.end()) return say(CUDA_ERROR_INVALID_HANDLE, "cuStreamDestroy(%p): not a stream", (void*)h);
        s = it->second;
        streams.erase(it);
        s->ctx->streams.erase(s);
    }
    s->shutdown();  // the queued work finishes first, as on the GPU
    return CUDA_SUCCESS;
}

static std::shared_ptr<Stream> streamOf(CUstream h, const char* op) {
    std::lock_guard<std::mutex> l(mu);
    auto s = anyStream(current(), h);
    if (!s && isDefault(h)) say(CUDA_ERROR_INVALID_CONTEXT, "%s: the default stream with no current context", op);
    if (!s && !isDefault(h)) say(CUDA_ERROR_INVALID_HANDLE, "%s(%p): not a stream", op, (void*)h);
    return s;
}

// refuseWhileCapturing refuses a wait for, or a query of, a stream that is
// capturing (its work has not run and will not), invalidating the capture.
static CUresult refuseWhileCapturing(const std::shared_ptr<Stream>& s, const char* op) {
    std::lock_guard<std::mutex> l(mu);
    if (!s->capture) return CUDA_SUCCESS;
    invalidate(s->capture);
    return say(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "%s: the stream is capturing", op);
}

CUresult CUDAAPI cuStreamSynchronize(CUstream h) {
    if (CUresult r = enter("cuStreamSynchronize")) return r;
    auto s = streamOf(h, "cuStreamSynchronize");
    if (!s) return CUDA_ERROR_INVALID_HANDLE;
    if (CUresult r = refuseWhileCapturing(s, "cuStreamSynchronize")) return r;
    s->waitFor(s->tail());
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamQuery(CUstream h) {
    auto s = streamOf(h, "cuStreamQuery");
    if (!s) return CUDA_ERROR_INVALID_HANDLE;
    if (CUresult r = refuseWhileCapturing(s, "cuStreamQuery")) return r;
    std::lock_guard<std::mutex> l(s->mu);
    return s->done == s->enqueued ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

CUresult CUDAAPI cuStreamWaitEvent(CUstream h, CUevent e, unsigned int flags) {
    if (CUresult r = enter("cuStreamWaitEvent")) return r;
    if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::mutex> l(mu);
    Ctx* c = current();
    if (!c) return say(CUDA_ERROR_INVALID_CONTEXT, "cuStreamWaitEvent: no current context");
    auto ev = events.find(reinterpret_cast<Event*>(e));
    if (ev == events.end()) return say(CUDA_ERROR_INVALID_HANDLE, "cuStreamWaitEvent: %p is not an event", (void*)e);
    auto s = anyStream(c, h);  // the stream may be another context's
    if (!s) return say(CUDA_ERROR_INVALID_HANDLE, "cuStreamWaitEvent: %p is not a stream", (void*)h);
    if (CUresult r = captureGate("cuStreamWaitEvent", s->ctx, s)) return r;
    auto m = ev->second->mark;
    if (!m) return CUDA_SUCCESS;  // never recorded: nothing to wait for
    if (m->capture || s->capture) {
        // Inside one capture the work is in stream order already; a
        // dependency across a capture's boundary is the driver's isolation error.
        if (s->capture && m->capture == s->capture->id) return CUDA_SUCCESS;
        invalidate(s->capture);
        for (auto& st : streams)
            if (st.second->capture && st.second->capture->id == m->capture) invalidate(st.second->capture);
        return say(CUDA_ERROR_STREAM_CAPTURE_ISOLATION, "cuStreamWaitEvent: a wait across a capture's boundary");
    }
    push(s->ctx, s, [m] { m->stream->waitFor(m->seq); });
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventCreate(CUevent* out, unsigned int flags) {
    if (CUresult r = enter("cuEventCreate")) return r;
    std::lock_guard<std::mutex> l(mu);
    Ctx* c = current();
    if (!c) return say(CUDA_ERROR_INVALID_CONTEXT, "cuEventCreate: no current context");
    auto e = std::make_unique<Event>();
    e->ctx = c;
    e->flags = flags;
    Event* p = e.get();
    events[p] = std::move(e);
    *out = reinterpret_cast<CUevent>(p);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventDestroy(CUevent h) {
    std::lock_guard<std::mutex> l(mu);
    if (!events.erase(reinterpret_cast<Event*>(h))) return say(CUDA_ERROR_INVALID_HANDLE, "cuEventDestroy(%p): not an event", (void*)h);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventRecord(CUevent h, CUstream sh) {
    if (CUresult r = enter("cuEventRecord")) return r;
    std::lock_guard<std::mutex> l(mu);
    auto ev = events.find(reinterpret_cast<Event*>(h));
    if (ev == events.end()) return say(CUDA_ERROR_INVALID_HANDLE, "cuEventRecord: %p is not an event", (void*)h);
    Event* e = ev->second.get();
    Ctx* c;
    std::shared_ptr<Stream> s;
    if (CUresult r = currentStream("cuEventRecord", sh, &c, &s)) return r;
    if (e->ctx != s->ctx)
        return say(CUDA_ERROR_INVALID_HANDLE, "cuEventRecord: the event and the stream belong to different contexts");
    if (CUresult r = captureGate("cuEventRecord", c, s)) return r;
    auto m = std::make_shared<Mark>();
    m->stream = s;
    if (s->capture) {
        // A place in the capture, which only waits of the same capture may
        // use: no node, and no time.
        m->capture = s->capture->id;
        e->mark = m;
        return CUDA_SUCCESS;
    }
    m->seq = push(c, s, [m] { m->ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); });
    e->mark = m;
    return CUDA_SUCCESS;
}

static std::shared_ptr<Mark> markOf(CUevent h, CUresult* r) {
    std::lock_guard<std::mutex> l(mu);
    auto ev = events.find(reinterpret_cast<Event*>(h));
    if (ev == events.end()) {
        *r = say(CUDA_ERROR_INVALID_HANDLE, "%p is not an event", (void*)h);
        return nullptr;
    }
    *r = CUDA_SUCCESS;
    auto m = ev->second->mark;
    if (m && m->capture) {
        *r = say(CUDA_ERROR_CAPTURED_EVENT, "event %p was last recorded in a capturing stream", (void*)h);
        return nullptr;
    }
    return m;
}

CUresult CUDAAPI cuEventQuery(CUevent h) {
    if (CUresult r = enter("cuEventQuery")) return r;
    CUresult r;
    auto m = markOf(h, &r);
    if (r != CUDA_SUCCESS || !m) return r;
    return m->reached() ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

CUresult CUDAAPI cuEventSynchronize(CUevent h) {
    if (CUresult r = enter("cuEventSynchronize")) return r;
    CUresult r;
    auto m = markOf(h, &r);
    if (r != CUDA_SUCCESS || !m) return r;
    m->stream->waitFor(m->seq);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventElapsedTime(float* ms, CUevent a, CUevent b) {
    if (CUresult r = enter("cuEventElapsedTime")) return r;
    CUresult r;
    auto ma = markOf(a, &r);
    if (r != CUDA_SUCCESS) return r;
    auto mb = markOf(b, &r);
    if (r != CUDA_SUCCESS) return r;
    {
        std::lock_guard<std::mutex> l(mu);
        auto ea = events.find(reinterpret_cast<Event*>(a)), eb = events.find(reinterpret_cast<Event*>(b));
        if (ea == events.end() || eb == events.end()) return CUDA_ERROR_INVALID_HANDLE;
        if ((ea->second->flags | eb->second->flags) & CU_EVENT_DISABLE_TIMING) return CUDA_ERROR_INVALID_HANDLE;
    }
    if (!ma || !mb) return CUDA_ERROR_INVALID_HANDLE;
    if (!ma->reached() || !mb->reached()) return CUDA_ERROR_NOT_READY;
    *ms = (float)((mb->ns - ma->ns) / 1e6);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleLoadData(CUmodule* out, const void* image) {
    if (CUresult r = enter("cuModuleLoadData")) return r;
    std::lock_guard<std::mutex> l(mu);
    Ctx* c = current();
    if (!c) return say(CUDA_ERROR_INVALID_CONTEXT, "cuModuleLoadData: no current context");
    auto m = std::make_unique<Module>();
    m->ctx = c;
    m->image = static_cast<const char*>(image);
    if (m->image.find(".entry ") == std::string::npos) return CUDA_ERROR_INVALID_IMAGE;
    Module* p = m.get();
    modules[p] = std::move(m);
    *out = reinterpret_cast<CUmodule>(p);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleLoadDataEx(CUmodule* out, const void* image, unsigned int n, CUjit_option* options, void** values) {
    (void)n, (void)options, (void)values;  // JIT options: there is no JIT
    return cuModuleLoadData(out, image);
}

CUresult CUDAAPI cuModuleUnload(CUmodule h) {
    std::lock_guard<std::mutex> l(mu);
    Module* m = reinterpret_cast<Module*>(h);
    if (!modules.count(m)) return CUDA_ERROR_INVALID_HANDLE;
    for (auto it = functions.begin(); it != functions.end();)
        it = it->first->module == m ? functions.erase(it) : std::next(it);
    modules.erase(m);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleGetFunction(CUfunction* out, CUmodule h, const char* name) {
    std::lock_guard<std::mutex> l(mu);
    Module* m = reinterpret_cast<Module*>(h);
    if (!modules.count(m)) return CUDA_ERROR_INVALID_HANDLE;
    auto f = std::make_unique<Function>();
    if (!entryOf(m->image, name, &f->maxThreads)) return CUDA_ERROR_NOT_FOUND;
    f->binder = findKernel(name);
    if (!f->binder)
        return say(CUDA_ERROR_NOT_FOUND, "the PTX has an entry %s that cudaemu was not built with (scripts/build-cudaemu.sh)", name);
    f->module = m;
    f->name = name;
    Function* p = f.get();
    functions[p] = std::move(f);
    *out = reinterpret_cast<CUfunction>(p);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncSetAttribute(CUfunction h, CUfunction_attribute a, int v) {
    std::lock_guard<std::mutex> l(mu);
    auto it = functions.find(reinterpret_cast<Function*>(h));
    if (it == functions.end()) return CUDA_ERROR_INVALID_HANDLE;
    if (a != CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)
        return say(CUDA_ERROR_INVALID_VALUE, "cuFuncSetAttribute: attribute %d is not emulated", (int)a);
    if (v < 0 || v > (227 << 10)) return CUDA_ERROR_INVALID_VALUE;
    it->second->maxDynamicShared = v;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuLaunchKernel(CUfunction h, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                                unsigned shared, CUstream sh, void** params, void** extra) {
    if (CUresult r = enter("cuLaunchKernel")) return r;
    std::lock_guard<std::mutex> l(mu);
    auto it = functions.find(reinterpret_cast<Function*>(h));
    if (it == functions.end()) return say(CUDA_ERROR_INVALID_HANDLE, "cuLaunchKernel: %p is not a function", (void*)h);
    Function* f = it->second.get();
    Ctx* c;
    std::shared_ptr<Stream> s;
    if (CUresult r = currentStream("cuLaunchKernel(" + f->name + ")", sh, &c, &s)) return r;
    if (f->module->ctx != c)
        return say(CUDA_ERROR_INVALID_HANDLE, "cuLaunchKernel(%s): its module was loaded in another context", f->name.c_str());
    unsigned long threads = (unsigned long)bx * by * bz;
    if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0 || gy > 65535 || gz > 65535 || gx > 0x7fffffffu ||
        bx > 1024 || by > 1024 || bz > 64 || threads > 1024)
        return say(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernel(%s): grid (%u,%u,%u) block (%u,%u,%u) is out of bounds", f->name.c_str(),
                   gx, gy, gz, bx, by, bz);
    if (threads > f->maxThreads)
        return say(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernel(%s): %lu threads per block, above its __launch_bounds__ of %u",
                   f->name.c_str(), threads, f->maxThreads);
    if ((int)shared > f->maxDynamicShared)
        return say(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernel(%s): %u bytes of dynamic shared memory, above its limit of %d",
                   f->name.c_str(), shared, f->maxDynamicShared);
    if (extra) return say(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernel(%s): extra is not emulated", f->name.c_str());
    if (CUresult r = captureGate("cuLaunchKernel", c, s)) return r;
    auto run = (*f->binder)(params);
    std::string name = f->name;
    Dim3 grid{gx, gy, gz}, block{bx, by, bz};
    push(c, s, [name, grid, block, shared, run] { runGrid(name.c_str(), grid, block, shared, run); });
    return CUDA_SUCCESS;
}

// Stream capture and graphs: work enqueued on a capturing stream becomes a
// node of its graph instead of running; an instance of the graph replays the
// nodes in capture order on the stream it is launched on.

CUresult CUDAAPI cuStreamBeginCapture(CUstream h, CUstreamCaptureMode mode) {
    if (CUresult r = enter("cuStreamBeginCapture")) return r;
    std::lock_guard<std::mutex> l(mu);
    Ctx* c;
    std::shared_ptr<Stream> s;
    if (CUresult r = currentStream("cuStreamBeginCapture", h, &c, &s)) return r;
    if (s == c->legacy) return say(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuStreamBeginCapture: the legacy stream cannot capture");
    if (s->capture) return say(CUDA_ERROR_ILLEGAL_STATE, "cuStreamBeginCapture: the stream is capturing already");
    if (mode != CU_STREAM_CAPTURE_MODE_GLOBAL && mode != CU_STREAM_CAPTURE_MODE_THREAD_LOCAL && mode != CU_STREAM_CAPTURE_MODE_RELAXED)
        return CUDA_ERROR_INVALID_VALUE;
    auto cap = std::make_shared<Capture>();
    cap->id = ++state.captures;
    cap->mode = mode;
    cap->thread = std::this_thread::get_id();
    s->capture = cap;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamEndCapture(CUstream h, CUgraph* out) {
    if (CUresult r = enter("cuStreamEndCapture")) return r;
    std::lock_guard<std::mutex> l(mu);
    Ctx* c;
    std::shared_ptr<Stream> s;
    if (CUresult r = currentStream("cuStreamEndCapture", h, &c, &s)) return r;
    if (!s->capture) return say(CUDA_ERROR_ILLEGAL_STATE, "cuStreamEndCapture: the stream is not capturing");
    auto cap = s->capture;
    if (cap->mode != CU_STREAM_CAPTURE_MODE_RELAXED && cap->thread != std::this_thread::get_id())
        return say(CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD, "cuStreamEndCapture: on another thread than the capture began");
    s->capture = nullptr;
    *out = nullptr;
    if (cap->invalidated) return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
    auto g = std::make_unique<Graph>();
    g->ctx = c;
    g->nodes = std::make_shared<const std::vector<std::function<void()>>>(std::move(cap->nodes));
    Graph* p = g.get();
    graphs[p] = std::move(g);
    *out = reinterpret_cast<CUgraph>(p);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamIsCapturing(CUstream h, CUstreamCaptureStatus* status) {
    std::lock_guard<std::mutex> l(mu);
    Ctx* c;
    std::shared_ptr<Stream> s;
    if (CUresult r = currentStream("cuStreamIsCapturing", h, &c, &s)) return r;
    *status = !s->capture                ? CU_STREAM_CAPTURE_STATUS_NONE
              : s->capture->invalidated ? CU_STREAM_CAPTURE_STATUS_INVALIDATED
                                        : CU_STREAM_CAPTURE_STATUS_ACTIVE;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphInstantiateWithFlags(CUgraphExec* out, CUgraph h, unsigned long long flags) {
    if (CUresult r = enter("cuGraphInstantiate")) return r;
    if (flags != 0) return say(CUDA_ERROR_INVALID_VALUE, "cuGraphInstantiateWithFlags: flags %llu are not emulated", flags);
    std::lock_guard<std::mutex> l(mu);
    auto it = graphs.find(reinterpret_cast<Graph*>(h));
    if (it == graphs.end()) return say(CUDA_ERROR_INVALID_HANDLE, "cuGraphInstantiate: %p is not a graph", (void*)h);
    auto e = std::make_unique<GraphExec>();
    e->ctx = it->second->ctx;
    e->nodes = it->second->nodes;
    GraphExec* p = e.get();
    execs[p] = std::move(e);
    *out = reinterpret_cast<CUgraphExec>(p);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphLaunch(CUgraphExec h, CUstream sh) {
    if (CUresult r = enter("cuGraphLaunch")) return r;
    std::lock_guard<std::mutex> l(mu);
    auto it = execs.find(reinterpret_cast<GraphExec*>(h));
    if (it == execs.end()) return say(CUDA_ERROR_INVALID_HANDLE, "cuGraphLaunch: %p is not a graph instance", (void*)h);
    Ctx* c;
    std::shared_ptr<Stream> s;
    if (CUresult r = currentStream("cuGraphLaunch", sh, &c, &s)) return r;
    if (it->second->ctx != c)
        return say(CUDA_ERROR_INVALID_CONTEXT, "cuGraphLaunch: the graph was captured in another context");
    if (CUresult r = captureGate("cuGraphLaunch", c, s)) return r;
    Nodes nodes = it->second->nodes;
    if (s->capture) {  // a launch into a capture becomes its nodes there
        for (auto& n : *nodes) s->capture->nodes.push_back(n);
        return CUDA_SUCCESS;
    }
    push(c, s, [nodes] {
        for (auto& n : *nodes) n();
    });
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphExecDestroy(CUgraphExec h) {
    if (CUresult r = enter("cuGraphExecDestroy")) return r;
    std::lock_guard<std::mutex> l(mu);
    if (!execs.erase(reinterpret_cast<GraphExec*>(h)))
        return say(CUDA_ERROR_INVALID_HANDLE, "cuGraphExecDestroy(%p): not a graph instance", (void*)h);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphDestroy(CUgraph h) {
    if (CUresult r = enter("cuGraphDestroy")) return r;
    std::lock_guard<std::mutex> l(mu);
    if (!graphs.erase(reinterpret_cast<Graph*>(h))) return say(CUDA_ERROR_INVALID_HANDLE, "cuGraphDestroy(%p): not a graph", (void*)h);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGetErrorName(CUresult r, const char** s) {
    switch (r) {
#define NAME(x) \
    case x: *s = #x; return CUDA_SUCCESS;
        NAME(CUDA_SUCCESS)
        NAME(CUDA_ERROR_INVALID_VALUE)
        NAME(CUDA_ERROR_OUT_OF_MEMORY)
        NAME(CUDA_ERROR_NOT_INITIALIZED)
        NAME(CUDA_ERROR_NO_DEVICE)
        NAME(CUDA_ERROR_INVALID_DEVICE)
        NAME(CUDA_ERROR_INVALID_IMAGE)
        NAME(CUDA_ERROR_INVALID_CONTEXT)
        NAME(CUDA_ERROR_INVALID_HANDLE)
        NAME(CUDA_ERROR_NOT_FOUND)
        NAME(CUDA_ERROR_NOT_READY)
        NAME(CUDA_ERROR_ILLEGAL_ADDRESS)
        NAME(CUDA_ERROR_PEER_ACCESS_UNSUPPORTED)
        NAME(CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED)
        NAME(CUDA_ERROR_NOT_SUPPORTED)
        NAME(CUDA_ERROR_LAUNCH_FAILED)
        NAME(CUDA_ERROR_UNKNOWN)
        NAME(CUDA_ERROR_ILLEGAL_STATE)
        NAME(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED)
        NAME(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED)
        NAME(CUDA_ERROR_STREAM_CAPTURE_MERGE)
        NAME(CUDA_ERROR_STREAM_CAPTURE_UNMATCHED)
        NAME(CUDA_ERROR_STREAM_CAPTURE_UNJOINED)
        NAME(CUDA_ERROR_STREAM_CAPTURE_ISOLATION)
        NAME(CUDA_ERROR_STREAM_CAPTURE_IMPLICIT)
        NAME(CUDA_ERROR_CAPTURED_EVENT)
        NAME(CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD)
#undef NAME
    default: return CUDA_ERROR_INVALID_VALUE;
    }
}

CUresult CUDAAPI cuGetErrorString(CUresult r, const char** s) {
    const char* name;
    if (cuGetErrorName(r, &name) != CUDA_SUCCESS) return CUDA_ERROR_INVALID_VALUE;
    *s = r == CUDA_SUCCESS ? "no error" : r == CUDA_ERROR_OUT_OF_MEMORY ? "out of memory" : name;
    return CUDA_SUCCESS;
}

}  // extern "C"
