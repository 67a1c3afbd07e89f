// cudaemu: the NCCL calls baton resolves (ncclGetVersion, ncclGetUniqueId,
// ncclCommInitRank, ncclCommDestroy, ncclCommAbort, ncclCommGetAsyncError,
// ncclSend, ncclRecv, ncclGroupStart, ncclGroupEnd, ncclGetErrorString)
// between the processes of one host, as libnccl.so.2.
//
// A unique id names a rendezvous: Linux abstract Unix sockets, one per rank,
// so that nothing is left on the file system. ncclCommInitRank connects every
// rank to every other: one socket per ordered pair, carrying the sender's
// messages one way and the receiver's "ready" tokens the other, so that no
// socket is read by two threads. A send or receive is work on its CUDA stream
// (emu::enqueue): it runs when the stream reaches it, and an event recorded
// after it marks its completion. The semantics kept are NCCL's that a program
// may rely on, at their strictest: a send completes only once the matching
// receive has started (NCCL's may wait so for any size above its buffers);
// sends and receives between two ranks match in posting order and must agree
// on the size; a communicator runs its operations one at a time in posting
// order, whatever their streams (NCCL serialises them), except that the
// operations of one group run together. Failures become the communicator's
// asynchronous error, with a line on stderr: a peer that exits or aborts
// (ncclRemoteError), a size mismatch (ncclInvalidUsage).
//
// Settings: CUDAEMU_NCCL_TIMEOUT (seconds ncclCommInitRank waits for the
// other ranks, 30).
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "emu.h"

namespace {

enum Result {
    kSuccess = 0,
    kUnhandledCudaError = 1,
    kSystemError = 2,
    kInternalError = 3,
    kInvalidArgument = 4,
    kInvalidUsage = 5,
    kRemoteError = 6,
};

// 2.30: the first NCCL that lets several ranks share a GPU, as every rank
// here may (each process has its own emulated GPUs).
constexpr int kVersion = 23000;
constexpr char kMagic[] = "cudaemu-nccl:";
constexpr uint32_t kHello = 0x4e43434c;  // "NCCL"
// Element sizes of ncclDataType_t 0..9: int8, uint8, int32, uint32, int64,
// uint64, float16, float32, float64, bfloat16.
constexpr size_t kTypeSize[] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2};
// A send waiting this long for its receive says so once on stderr: it is
// most likely a deadlock in the caller's posting order.
constexpr int kWaitNoteMs = 10000;

struct Id {
    char internal[128];
};

// say writes one line on stderr, in one write: two ranks' lines do not mix.
void say(const char* fmt, ...) {
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "cudaemu: %s\n", line);
}

// Done is the completion of one launch of operations.
struct Done {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    void set() {
        {
            std::lock_guard<std::mutex> l(mu);
            done = true;
        }
        cv.notify_all();
    }
    void wait() {
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [&] { return done; });
    }
};

struct Comm {
    int rank = 0, world = 0;
    std::vector<int> out;  // out[p]: my messages to p; p's tokens come back on it
    std::vector<int> in;   // in[p]: p's messages to me; my tokens go back on it
    std::atomic<int> err{kSuccess};
    std::atomic<bool> aborted{false};
    std::mutex mu;
    std::shared_ptr<Done> last;  // the latest launch: the next one waits for it

    ~Comm() {
        for (int fd : out)
            if (fd >= 0) close(fd);
        for (int fd : in)
            if (fd >= 0) close(fd);
    }
    // fail makes code the communicator's asynchronous error (the first one
    // stays) and says why, unless the communicator was aborted.
    void fail(int code, const char* fmt, ...) {
        if (aborted) return;
        int none = kSuccess;
        if (!err.compare_exchange_strong(none, code)) return;
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        say("NCCL rank %d of %d: %s", rank, world, msg);
    }
};

std::mutex commsMu;
std::unordered_map<Comm*, std::shared_ptr<Comm>>& comms = *new std::unordered_map<Comm*, std::shared_ptr<Comm>>;

std::shared_ptr<Comm> find(void* h) {
    std::lock_guard<std::mutex> l(commsMu);
    auto it = comms.find(static_cast<Comm*>(h));
    return it == comms.end() ? nullptr : it->second;
}

// ioAll reads or writes n bytes, false on an error or the peer's end. A
// caller that may wait long (a send for its receive) passes a note, said
// once after kWaitNoteMs.
bool ioAll(bool write, int fd, void* p, size_t n, const char* note = nullptr) {
    char* b = static_cast<char*>(p);
    bool noted = false;
    while (n > 0) {
        if (note && !noted) {
            struct pollfd pf = {fd, (short)(write ? POLLOUT : POLLIN), 0};
            int r = poll(&pf, 1, kWaitNoteMs);
            if (r == 0) {
                say("%s", note);
                noted = true;
                continue;
            }
        }
        ssize_t k = write ? send(fd, b, n, MSG_NOSIGNAL) : recv(fd, b, n, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        b += k;
        n -= (size_t)k;
    }
    return true;
}

struct Op {
    bool isSend;
    char* buf;
    size_t bytes;
    int peer;
    std::shared_ptr<Comm> comm;
    CUstream stream;
};

// run moves one message. The receiver sends a token with its size when its
// receive starts; the sender waits for it, answers with its own size, then
// the bytes if the sizes agree.
void run(const Op& op) {
    Comm& c = *op.comm;
    if (c.err != kSuccess || c.aborted) return;
    uint64_t mine = op.bytes, theirs = 0;
    if (op.isSend) {
        int fd = c.out[op.peer];
        char note[200];
        snprintf(note, sizeof note,
                 "NCCL rank %d: ncclSend of %zu bytes to rank %d has waited %d s for its ncclRecv (sends wait for the "
                 "matching receive, as NCCL's may)",
                 c.rank, op.bytes, op.peer, kWaitNoteMs / 1000);
        if (!ioAll(false, fd, &theirs, 8, note) || !ioAll(true, fd, &mine, 8))
            return c.fail(kRemoteError, "ncclSend to rank %d: rank %d is gone (it exited or aborted)", op.peer, op.peer);
        if (theirs != mine)
            return c.fail(kInvalidUsage, "ncclSend of %zu bytes to rank %d met an ncclRecv of %zu bytes", op.bytes, op.peer,
                          (size_t)theirs);
        if (!ioAll(true, fd, op.buf, op.bytes))
            return c.fail(kRemoteError, "ncclSend to rank %d: rank %d is gone (it exited or aborted)", op.peer, op.peer);
    } else {
        int fd = c.in[op.peer];
        if (!ioAll(true, fd, &mine, 8) || !ioAll(false, fd, &theirs, 8))
            return c.fail(kRemoteError, "ncclRecv from rank %d: rank %d is gone (it exited or aborted)", op.peer, op.peer);
        if (theirs != mine)
            return c.fail(kInvalidUsage, "ncclRecv of %zu bytes from rank %d met an ncclSend of %zu bytes", op.bytes,
                          op.peer, (size_t)theirs);
        if (!ioAll(false, fd, op.buf, op.bytes))
            return c.fail(kRemoteError, "ncclRecv from rank %d: rank %d is gone (it exited or aborted)", op.peer, op.peer);
    }
}

// Launch is one ncclSend or ncclRecv, or one group of them: work on every
// stream it names, which runs the operations (together) once all those
// streams have reached it and every communicator involved has finished its
// previous launch.
struct Launch {
    std::vector<Op> ops;
    std::vector<std::shared_ptr<Done>> prev;
    std::shared_ptr<Done> done = std::make_shared<Done>();
    std::mutex mu;
    int arriving = 0;
    bool failed = false;  // a stream refused its part: run nothing

    void arrive() {
        bool lastIn;
        {
            std::lock_guard<std::mutex> l(mu);
            lastIn = --arriving == 0;
        }
        if (!lastIn) return done->wait();
        for (auto& p : prev) p->wait();
        if (!failed) {
            if (ops.size() == 1) {
                run(ops[0]);
            } else {
                std::vector<std::thread> ts;
                for (auto& op : ops) ts.emplace_back([&op] { run(op); });
                for (auto& t : ts) t.join();
            }
        }
        done->set();
    }
};

int launch(std::vector<Op> ops) {
    auto l = std::make_shared<Launch>();
    l->ops = std::move(ops);
    std::vector<CUstream> streams;
    for (auto& op : l->ops) {
        bool seen = false;
        for (auto s : streams) seen |= s == op.stream;
        if (!seen) streams.push_back(op.stream);
        std::lock_guard<std::mutex> g(op.comm->mu);
        if (op.comm->last != l->done) {
            if (op.comm->last) l->prev.push_back(op.comm->last);
            op.comm->last = l->done;
        }
    }
    l->arriving = (int)streams.size();
    int result = kSuccess;
    for (auto s : streams) {
        if (emu::enqueue(s, [l] { l->arrive(); }) != CUDA_SUCCESS) {
            // The stream is not one of the current context's (said above):
            // this part arrives now, and the launch runs nothing.
            l->failed = true;
            result = kUnhandledCudaError;
            l->arrive();
        }
    }
    return result;
}

thread_local int groupDepth = 0;
thread_local std::vector<Op> grouped;
thread_local int groupError = kSuccess;

int post(bool isSend, const void* buf, size_t count, int type, int peer, void* h, CUstream stream) {
    const char* call = isSend ? "ncclSend" : "ncclRecv";
    auto c = find(h);
    int r = kSuccess;
    if (!c) {
        say("%s: %p is not a communicator", call, h);
        r = kInvalidArgument;
    } else if (peer < 0 || peer >= c->world) {
        say("%s: peer %d is not a rank of a communicator of %d", call, peer, c->world);
        r = kInvalidArgument;
    } else if (type < 0 || type >= (int)(sizeof kTypeSize / sizeof kTypeSize[0])) {
        say("%s: datatype %d is not emulated", call, type);
        r = kInvalidArgument;
    } else if (!buf && count > 0) {
        say("%s: a null buffer of %zu elements", call, count);
        r = kInvalidArgument;
    }
    if (r != kSuccess) {
        if (groupDepth > 0) groupError = r;
        return r;
    }
    Op op{isSend, static_cast<char*>(const_cast<void*>(buf)), count * kTypeSize[type], peer, c, stream};
    if (groupDepth > 0) {
        grouped.push_back(op);
        return kSuccess;
    }
    return launch({op});
}

// listenAddr is rank's rendezvous address for an id: an abstract socket.
socklen_t listenAddr(const Id& id, int rank, sockaddr_un* a) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    int n = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "%.64s/%d", id.internal, rank);
    return (socklen_t)(offsetof(sockaddr_un, sun_path) + 1 + n);
}

struct Hello {
    uint32_t magic;
    int32_t rank, world;
};

double timeoutSeconds() {
    const char* v = getenv("CUDAEMU_NCCL_TIMEOUT");
    return v && *v ? atof(v) : 30;
}

// readyIn waits until fd is readable, at most until deadline.
bool readyIn(int fd, std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) return false;
        struct pollfd pf = {fd, POLLIN, 0};
        int r = poll(&pf, 1, (int)left);
        if (r > 0) return true;
        if (r < 0 && errno != EINTR) return false;
    }
}

// connectAll links rank to every other rank of the id (see the file's
// header); its listener is up before it dials, so that dialling never waits
// on an accept.
int connectAll(Comm& c, const Id& id) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds((long)(timeoutSeconds() * 1000));
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a;
    socklen_t alen = listenAddr(id, c.rank, &a);
    if (lfd < 0 || bind(lfd, reinterpret_cast<sockaddr*>(&a), alen) != 0 || listen(lfd, c.world + 16) != 0) {
        int e = errno;
        if (lfd >= 0) close(lfd);
        say("ncclCommInitRank: rank %d of %d: cannot listen (%s)%s", c.rank, c.world, strerror(e),
            e == EADDRINUSE ? ": another communicator of this id already has this rank" : "");
        return e == EADDRINUSE ? kInvalidUsage : kSystemError;
    }
    Hello me{kHello, c.rank, c.world};
    int result = kSuccess;
    for (int p = 0; p < c.world && result == kSuccess; p++) {
        if (p == c.rank) continue;
        alen = listenAddr(id, p, &a);
        for (;;) {
            int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&a), alen) == 0) {
                c.out[p] = fd;
                if (!ioAll(true, fd, &me, sizeof me)) result = kSystemError;
                break;
            }
            if (fd >= 0) close(fd);
            if (std::chrono::steady_clock::now() > deadline) {
                say("ncclCommInitRank: rank %d of %d: rank %d did not come within %g s (CUDAEMU_NCCL_TIMEOUT)", c.rank,
                    c.world, p, timeoutSeconds());
                result = kSystemError;
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    for (int k = 0; k < c.world - 1 && result == kSuccess; k++) {
        Hello h{};
        int fd = readyIn(lfd, deadline) ? accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC) : -1;
        if (fd < 0 || !readyIn(fd, deadline) || !ioAll(false, fd, &h, sizeof h) || h.magic != kHello || h.world != c.world ||
            h.rank < 0 || h.rank >= c.world || h.rank == c.rank || c.in[h.rank] >= 0) {
            if (fd >= 0) close(fd);
            say("ncclCommInitRank: rank %d of %d: %s", c.rank, c.world,
                fd < 0 ? "not every rank connected in time (CUDAEMU_NCCL_TIMEOUT)"
                       : "a rank that does not agree on the communicator's size connected");
            result = h.magic == kHello && h.world != c.world ? kInvalidUsage : kSystemError;
            break;
        }
        c.in[h.rank] = fd;
    }
    close(lfd);
    if (result != kSuccess) return result;
    int self[2];  // messages to oneself: one socket pair serves both ends
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, self) != 0) return kSystemError;
    c.out[c.rank] = self[0];
    c.in[c.rank] = self[1];
    return kSuccess;
}

}  // namespace

extern "C" {

int ncclGetVersion(int* v) {
    if (!v) return kInvalidArgument;
    *v = kVersion;
    return kSuccess;
}

int ncclGetUniqueId(Id* id) {
    if (!id) return kInvalidArgument;
    memset(id, 0, sizeof *id);
    std::random_device rd;
    snprintf(id->internal, sizeof id->internal, "%s%d-%08x%08x", kMagic, (int)getpid(), rd(), rd());
    return kSuccess;
}

int ncclCommInitRank(void** out, int world, Id id, int rank) {
    if (!out) return kInvalidArgument;
    if (strncmp(id.internal, kMagic, strlen(kMagic)) != 0 || !memchr(id.internal, 0, sizeof id.internal)) {
        say("ncclCommInitRank: the id is not one of cudaemu's ncclGetUniqueId");
        return kInvalidArgument;
    }
    if (world < 1 || rank < 0 || rank >= world) {
        say("ncclCommInitRank: rank %d of %d", rank, world);
        return kInvalidArgument;
    }
    CUcontext ctx = nullptr;
    if (cuCtxGetCurrent(&ctx) != CUDA_SUCCESS || !ctx) {
        say("ncclCommInitRank: no current CUDA context");
        return kUnhandledCudaError;
    }
    auto c = std::make_shared<Comm>();
    c->rank = rank;
    c->world = world;
    c->out.assign(world, -1);
    c->in.assign(world, -1);
    if (int r = connectAll(*c, id)) return r;
    std::lock_guard<std::mutex> l(commsMu);
    comms[c.get()] = c;
    *out = c.get();
    return kSuccess;
}

// ncclCommDestroy waits for the communicator's operations, then frees it.
int ncclCommDestroy(void* h) {
    std::shared_ptr<Comm> c;
    {
        std::lock_guard<std::mutex> l(commsMu);
        auto it = comms.find(static_cast<Comm*>(h));
        if (it == comms.end()) return kInvalidArgument;
        c = it->second;
        comms.erase(it);
    }
    std::shared_ptr<Done> last;
    {
        std::lock_guard<std::mutex> l(c->mu);
        last = c->last;
    }
    if (last) last->wait();
    return kSuccess;
}

// ncclCommAbort ends the communicator's operations where they are: their
// sockets are shut, so that waiting ones return, here and at the peers.
int ncclCommAbort(void* h) {
    std::shared_ptr<Comm> c;
    {
        std::lock_guard<std::mutex> l(commsMu);
        auto it = comms.find(static_cast<Comm*>(h));
        if (it == comms.end()) return kInvalidArgument;
        c = it->second;
        comms.erase(it);
    }
    c->aborted = true;
    for (int fd : c->out)
        if (fd >= 0) shutdown(fd, SHUT_RDWR);
    for (int fd : c->in)
        if (fd >= 0) shutdown(fd, SHUT_RDWR);
    return kSuccess;
}

int ncclCommGetAsyncError(void* h, int* err) {
    auto c = find(h);
    if (!c || !err) return kInvalidArgument;
    *err = c->err;
    return kSuccess;
}

int ncclSend(const void* buf, size_t count, int type, int peer, void* comm, CUstream stream) {
    return post(true, buf, count, type, peer, comm, stream);
}

int ncclRecv(void* buf, size_t count, int type, int peer, void* comm, CUstream stream) {
    return post(false, buf, count, type, peer, comm, stream);
}

int ncclGroupStart(void) {
    groupDepth++;
    return kSuccess;
}

// ncclGroupEnd launches the group's operations together, once the outermost
// group ends; a call that failed inside the group fails the group.
int ncclGroupEnd(void) {
    if (groupDepth == 0) {
        say("ncclGroupEnd without ncclGroupStart");
        return kInvalidUsage;
    }
    if (--groupDepth > 0) return kSuccess;
    std::vector<Op> ops;
    ops.swap(grouped);
    int err = groupError;
    groupError = kSuccess;
    if (err != kSuccess) return err;
    if (ops.empty()) return kSuccess;
    return launch(std::move(ops));
}

const char* ncclGetErrorString(int r) {
    switch (r) {
    case kSuccess: return "no error";
    case kUnhandledCudaError: return "unhandled cuda error";
    case kSystemError: return "unhandled system error";
    case kInternalError: return "internal error";
    case kInvalidArgument: return "invalid argument";
    case kInvalidUsage: return "invalid usage";
    case kRemoteError: return "remote process exited or there was a network error";
    default: return "unknown result code";
    }
}

}  // extern "C"
