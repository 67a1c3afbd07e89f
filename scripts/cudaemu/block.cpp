// cudaemu: runs a grid on the calling OS thread, block after block, each CUDA
// thread of a block a fiber with its own stack; __syncthreads and the warp
// primitives switch fibers. Every misuse a GPU would leave undefined (a barrier
// some threads skip, a shuffle naming an exited lane, a deadlock) stops the
// process with a message naming the kernel, block and thread.
#include <sys/mman.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "emu.h"

namespace emu {

namespace {

constexpr size_t kStack = 64 << 10;  // bytes per fiber, the lowest page a guard
constexpr int kMaxThreads = 1024;

enum Wait { kRunning, kBarrier, kWarp, kDone };

}  // namespace

struct Thread {
    void* sp = nullptr;  // saved stack pointer while switched out
    Dim3 idx{};
    int linear = 0;
    Wait wait = kRunning;
    uint64_t gen = 0;    // the barrier generation it waits to see pass
    unsigned barriers = 0;  // __syncthreads passed
};

namespace {

struct Warp {
    unsigned live = 0;     // lanes not exited (bit per lane)
    unsigned arrived = 0;  // lanes waiting in the exchange under way
    uint64_t gen = 0;
    uint64_t slots[2][32] = {};
    unsigned votes[2] = {};
    unsigned char gathered[2][32][kGatherBytes] = {};
};

struct Block {
    std::vector<Thread> threads;
    int live = 0, arrived = 0;
    uint64_t gen = 0;
    std::vector<Warp> warps;
};

thread_local char* stacks = nullptr;  // kMaxThreads stacks of kStack bytes
// The stacks go with their thread: each stream is a thread, and a process
// that opens and closes many contexts would otherwise run out of mappings
// (each thread's stacks are 2·kMaxThreads of them, with their guard pages).
struct StacksOwner {
    ~StacksOwner() {
        if (stacks) munmap(stacks, kStack * kMaxThreads);
        stacks = nullptr;
    }
};
thread_local StacksOwner stacksOwner;
thread_local Block* block = nullptr;
thread_local void* schedulerSP = nullptr;
thread_local const std::function<void()>* body = nullptr;
thread_local const char* kernelName = "";

}  // namespace

thread_local Thread* tlsThread = nullptr;
thread_local Dim3 tlsBlockIdx, tlsBlockDim, tlsGridDim;

extern "C" void cudaemu_switch(void** save, void* to);
extern "C" void cudaemu_start();

// cudaemu_switch saves the callee-saved registers on the current stack, stores
// its pointer in *save, and resumes the stack at to (System V x86-64).
asm(R"(
    .text
    .globl cudaemu_switch
    .type cudaemu_switch, @function
cudaemu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size cudaemu_switch, .-cudaemu_switch
)");

[[noreturn]] static void fail(const char* fmt, ...) {
    fprintf(stderr, "cudaemu: kernel %s, block (%u,%u,%u)", kernelName, tlsBlockIdx.x, tlsBlockIdx.y, tlsBlockIdx.z);
    if (tlsThread) fprintf(stderr, ", thread (%u,%u,%u)", tlsThread->idx.x, tlsThread->idx.y, tlsThread->idx.z);
    fprintf(stderr, ": ");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    abort();
}

const Dim3& threadIndex() { return tlsThread->idx; }

int laneOf() { return tlsThread->linear % 32; }

// yield hands the OS thread back to the scheduler until it resumes this fiber.
static void yield() { cudaemu_switch(&tlsThread->sp, schedulerSP); }

static void threadExit() {
    Thread* t = tlsThread;
    Block* b = block;
    Warp& w = b->warps[t->linear / 32];
    if (w.arrived) fail("a thread exited while lanes of its warp wait in a warp primitive");
    if (b->arrived) fail("a thread exited while %d threads wait at __syncthreads", b->arrived);
    w.live &= ~(1u << (t->linear % 32));
    b->live--;
    t->wait = kDone;
    yield();
}

extern "C" void cudaemu_start() {
    (*body)();
    threadExit();
}

void syncthreads() {
    Block* b = block;
    Thread* t = tlsThread;
    if (b->warps[t->linear / 32].arrived) fail("__syncthreads while lanes of this warp wait in a warp primitive");
    t->barriers++;
    if (++b->arrived == b->live) {
        b->arrived = 0;
        b->gen++;
        return;
    }
    t->wait = kBarrier;
    t->gen = b->gen;
    yield();
}

// arrive blocks the lane until every lane named by mask has arrived; it returns
// the generation of the exchange (which of the two slot sets it used).
static uint64_t arrive(Warp& w, unsigned mask, const char* op) {
    Thread* t = tlsThread;
    unsigned bit = 1u << (t->linear % 32);
    if (!(mask & bit)) fail("%s called by a lane outside its mask (mask %x)", op, mask);
    if (mask & ~w.live) fail("%s: its mask names lanes that have exited or do not exist (%x)", op, mask & ~w.live);
    uint64_t gen = w.gen;
    w.arrived |= bit;
    if (w.arrived == mask) {
        w.arrived = 0;
        w.gen++;
        return gen;
    }
    if (w.arrived & ~mask) fail("%s: lanes of one warp disagree on the mask (%x)", op, mask);
    t->wait = kWarp;
    t->gen = gen;
    yield();
    return gen;
}

uint64_t warpExchange(uint64_t mine, int srcLane, unsigned mask, const char* op) {
    Warp& w = block->warps[tlsThread->linear / 32];
    int lane = tlsThread->linear % 32;
    w.slots[w.gen & 1][lane] = mine;
    uint64_t gen = arrive(w, mask, op);
    if (!(mask & (1u << srcLane))) fail("%s reads lane %d, which is not in its mask", op, srcLane);
    return w.slots[gen & 1][srcLane];
}

const unsigned char* warpGather(const void* mine, size_t n, const char* op) {
    if (n > kGatherBytes) fail("%s gathers %zu bytes per lane, above cudaemu's %zu", op, n, kGatherBytes);
    Warp& w = block->warps[tlsThread->linear / 32];
    memcpy(w.gathered[w.gen & 1][tlsThread->linear % 32], mine, n);
    uint64_t gen = arrive(w, 0xffffffffu, op);
    return &w.gathered[gen & 1][0][0];
}

unsigned warpBallot(unsigned mask, bool vote) {
    Warp& w = block->warps[tlsThread->linear / 32];
    unsigned bit = 1u << (tlsThread->linear % 32);
    if (w.arrived == 0) w.votes[w.gen & 1] = 0;
    if (vote) w.votes[w.gen & 1] |= bit;
    uint64_t gen = arrive(w, mask, "__ballot_sync");
    return w.votes[gen & 1] & mask;
}

// runnable reports whether a switched-out thread may go on.
static bool runnable(const Thread& t) {
    switch (t.wait) {
    case kRunning:
        return true;
    case kBarrier:
        return block->gen != t.gen;
    case kWarp:
        return block->warps[t.linear / 32].gen != t.gen;
    default:
        return false;
    }
}

static void runBlock(int nthreads) {
    Block b;
    b.threads.resize(nthreads);
    b.warps.resize((nthreads + 31) / 32);
    b.live = nthreads;
    block = &b;
    for (int i = 0; i < nthreads; i++) {
        Thread& t = b.threads[i];
        t.linear = i;
        t.idx = Dim3{i % tlsBlockDim.x, (i / tlsBlockDim.x) % tlsBlockDim.y, i / (tlsBlockDim.x * tlsBlockDim.y)};
        b.warps[i / 32].live |= 1u << (i % 32);
        // The stack as cudaemu_switch leaves it: six saved registers, the
        // address to return to, and a slot that keeps the ABI's alignment.
        void** sp = reinterpret_cast<void**>(stacks + (size_t)(i + 1) * kStack);
        *--sp = nullptr;
        *--sp = reinterpret_cast<void*>(&cudaemu_start);
        for (int r = 0; r < 6; r++) *--sp = nullptr;
        t.sp = sp;
    }
    int done = 0;
    while (done < nthreads) {
        bool progress = false;
        for (Thread& t : b.threads) {
            if (t.wait == kDone || !runnable(t)) continue;
            t.wait = kRunning;
            tlsThread = &t;
            cudaemu_switch(&schedulerSP, t.sp);
            progress = true;
            if (t.wait == kDone) done++;
        }
        if (!progress) {
            tlsThread = nullptr;
            fail("deadlock: %d threads wait at __syncthreads or a warp primitive that the others never reach",
                 nthreads - done);
        }
    }
    for (Thread& t : b.threads) {
        if (t.barriers != b.threads[0].barriers) {
            tlsThread = &t;
            fail("threads passed different numbers of __syncthreads (%u and %u): a barrier in divergent code", t.barriers, b.threads[0].barriers);
        }
    }
    tlsThread = nullptr;
    block = nullptr;
}

// The running block's dynamic shared memory: the launch's bytes, then a canary.
// Filled with NaN before each block, since a GPU leaves it uninitialised.
thread_local std::vector<unsigned char> dynShared;
constexpr size_t kCanary = 64;

void* dynamicShared() { return dynShared.data(); }

void runGrid(const char* name, Dim3 grid, Dim3 blockDim, unsigned shared, const std::function<void()>& fn) {
    if (!stacks) {
        void* p = mmap(nullptr, kStack * kMaxThreads, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);
        if (p == MAP_FAILED) {
            perror("cudaemu: mmap of fiber stacks");
            abort();
        }
        stacks = static_cast<char*>(p);
        (void)&stacksOwner;  // registers its destructor for this thread
        for (int i = 0; i < kMaxThreads; i++) mprotect(stacks + (size_t)i * kStack, 4096, PROT_NONE);
    }
    kernelName = name;
    body = &fn;
    tlsGridDim = grid;
    tlsBlockDim = blockDim;
    int n = blockDim.x * blockDim.y * blockDim.z;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                tlsBlockIdx = Dim3{x, y, z};
                dynShared.assign(shared + kCanary, 0xff);
                for (size_t i = shared; i < dynShared.size(); i++) dynShared[i] = 0xa5;
                runBlock(n);
                for (size_t i = shared; i < dynShared.size(); i++)
                    if (dynShared[i] != 0xa5)
                        fail("write past the %u bytes of dynamic shared memory the launch gave", shared);
            }
    body = nullptr;
}

}  // namespace emu
