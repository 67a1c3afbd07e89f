//go:build cuda

// Allocator: device memory of one CUDA context: the Buf handle, a caching allocator
// that rounds sizes into buckets and keeps freed blocks for reuse, and its accounting.

package cuda

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"sync"

	"gorgonia.org/cu"

	"baton/kernels"
)

// Buf is device memory made by this backend: N float32 elements at Ptr, N int32 when
// Int (made by AllocInt), or N bfloat16 when BF16 (AllocAs under kernels.BF16). A
// bf16 parameter (kernels.Weights) also has its float32 master at Master; every other
// Buf has Master 0. A Slice is a Buf too, pointing inside another.
type Buf struct {
	Ptr    cu.DevicePtr
	N      int
	Int    bool
	BF16   bool
	Master cu.DevicePtr
}

// Len reports the number of elements.
func (b Buf) Len() int { return b.N }

// ElemBytes is the size of one element: 2 for bf16, 4 for float32 and int32.
func (b Buf) ElemBytes() int64 {
	if b.BF16 {
		return 2
	}
	return 4
}

// Bytes is the size of b's elements at Ptr (not counting a master copy).
func (b Buf) Bytes() int64 { return b.ElemBytes() * int64(b.N) }

// dptr returns the device pointer of a Buf made by this backend; any other Buffer (a
// cpu slice, nil) panics with a message naming op.
func dptr(op string, b kernels.Buffer) cu.DevicePtr {
	return asBuf(op, b).Ptr
}

// asBuf is dptr returning the whole Buf.
func asBuf(op string, b kernels.Buffer) Buf {
	d, ok := b.(Buf)
	if !ok {
		panic(fmt.Sprintf("cuda: %s: buffer is %T, not a cuda.Buf made by this backend", op, b))
	}
	return d
}

// Allocator is a caching allocator of device memory for one CUDA context. Sizes are
// rounded up (to 512 B up to 1 MiB, above that to 1/32 of the next power of two, so
// less than 1/16 of a request is wasted) and a block handed back by Free waits in a cache for
// the next request of the same rounded size. The training loop frees only the stages a
// re-split drops (stashes are pooled), so once the first step has run, steady state never
// calls cuMemAlloc.
//
// It is safe for concurrent use from any goroutine and any OS thread: every driver call
// it makes (cuMemAlloc, cuMemFree) runs with its context pushed on the calling thread.
// Free does not synchronise: hand a block back only when no queued work still uses it,
// or when the work that will reuse it is ordered after that work (the same stream).
//
// Live and Peak count the rounded bytes of the blocks in use, the figures a memory
// budget needs; blocks in the cache are Cached.
type Allocator struct {
	ctx  cu.CUContext
	name string

	mu          sync.Mutex
	live        map[cu.DevicePtr]int64   // blocks in use → rounded bytes
	cache       map[int64][]cu.DevicePtr // rounded bytes → free blocks
	liveBytes   int64
	peakBytes   int64
	cachedBytes int64
	mallocs     int // cuMemAlloc calls that succeeded
}

// NewAllocator returns an empty allocator for ctx. name identifies the device in
// errors (e.g. "cuda:0/4 partition 2"); the context's handle is printed beside it.
func NewAllocator(ctx cu.CUContext, name string) *Allocator {
	return &Allocator{
		ctx:   ctx,
		name:  name,
		live:  map[cu.DevicePtr]int64{},
		cache: map[int64][]cu.DevicePtr{},
	}
}

// Context returns the context the allocator's memory belongs to.
func (a *Allocator) Context() cu.CUContext { return a.ctx }

// roundBytes is the size class of a request of n bytes (n > 0).
func roundBytes(n int64) int64 {
	const small = 1 << 20
	var g int64 = 512
	if n > small {
		g = int64(1) << (bits.Len64(uint64(n-1)) - 5) // next power of two / 32 < n / 16
	}
	return (n + g - 1) / g * g
}

// TryAlloc returns n float32 of uninitialised device memory, or an error when the
// device is out of memory (after giving the cache back to the driver and retrying). The
// error names the device, its context, the size asked and the bytes live, and wraps
// cu.OutOfMemory. Ops.TryAlloc is the zeroed form.
func (a *Allocator) TryAlloc(n int) (Buf, error) { return a.get(Buf{N: n}) }

// get hands out a block for like's N elements of like's type (like's pointers are
// ignored).
func (a *Allocator) get(like Buf) (Buf, error) {
	n := like.N
	if n < 0 || int64(n) > math.MaxInt64/4 {
		return Buf{}, fmt.Errorf("cuda: %s: allocation of %d elements", a.name, n)
	}
	if n == 0 {
		return Buf{Int: like.Int, BF16: like.BF16}, nil
	}
	size := roundBytes(like.ElemBytes() * int64(n))
	a.mu.Lock()
	defer a.mu.Unlock()
	var ptr cu.DevicePtr
	if free := a.cache[size]; len(free) > 0 {
		ptr = free[len(free)-1]
		a.cache[size] = free[:len(free)-1]
		a.cachedBytes -= size
	} else {
		var err error
		ptr, err = a.malloc(size)
		if errors.Is(err, cu.OutOfMemory) && a.cachedBytes > 0 {
			// Blocks of other sizes may be what stands in the way: give them back.
			if ferr := a.trim(); ferr != nil {
				return Buf{}, ferr
			}
			ptr, err = a.malloc(size)
		}
		if err != nil {
			return Buf{}, fmt.Errorf("cuda: %s (context %v): allocating %d bytes (%d elements, %d rounded) with %d bytes live: %w",
				a.name, a.ctx, like.ElemBytes()*int64(n), n, size, a.liveBytes, err)
		}
		a.mallocs++
	}
	a.live[ptr] = size
	a.liveBytes += size
	a.peakBytes = max(a.peakBytes, a.liveBytes)
	return Buf{Ptr: ptr, N: n, Int: like.Int, BF16: like.BF16}, nil
}

// Free hands b back to the cache (and its master copy, when it has one). b must be a
// whole block from this allocator (not a Slice of one), still live; anything else
// panics. A zero-length Buf is ignored.
func (a *Allocator) Free(b Buf) {
	if b.N == 0 && b.Ptr == 0 {
		return
	}
	if b.Master != 0 {
		a.Free(Buf{Ptr: b.Master, N: b.N})
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	size, ok := a.live[b.Ptr]
	if !ok || size != roundBytes(b.Bytes()) {
		panic(fmt.Sprintf("cuda: %s: Free of %v (%d elements): not a live block of this allocator (a Slice, freed twice, or another device's)",
			a.name, b.Ptr, b.N))
	}
	delete(a.live, b.Ptr)
	a.liveBytes -= size
	a.cache[size] = append(a.cache[size], b.Ptr)
	a.cachedBytes += size
}

// Live reports the bytes of the blocks in use (rounded sizes).
func (a *Allocator) Live() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.liveBytes
}

// Peak reports the most bytes live at once since the allocator was made or ResetPeak.
func (a *Allocator) Peak() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.peakBytes
}

// ResetPeak sets Peak to the bytes live now (to measure one phase, e.g. a step).
func (a *Allocator) ResetPeak() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.peakBytes = a.liveBytes
}

// Cached reports the bytes of freed blocks kept for reuse.
func (a *Allocator) Cached() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cachedBytes
}

// Mallocs reports how many times the allocator has called cuMemAlloc: constant once
// the cache serves every request.
func (a *Allocator) Mallocs() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mallocs
}

// Trim gives every cached block back to the driver (cuMemFree); live blocks stay.
func (a *Allocator) Trim() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.trim()
}

// Release frees every block, live and cached (cuMemFree), and empties the allocator;
// for the end of a run, when nothing queued uses the memory any more (synchronise
// first). Buffers handed out before are invalid afterwards. It returns the first error.
func (a *Allocator) Release() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	first := a.trim()
	err := withContext(a.ctx, func() error {
		for p := range a.live {
			if err := cu.MemFree(p); err != nil && first == nil {
				first = fmt.Errorf("cuda: %s (context %v): cuMemFree: %w", a.name, a.ctx, err)
			}
		}
		return nil
	})
	if first == nil {
		first = err
	}
	a.live = map[cu.DevicePtr]int64{}
	a.liveBytes = 0
	return first
}

// trim frees the cached blocks; a.mu held.
func (a *Allocator) trim() error {
	if a.cachedBytes == 0 {
		return nil
	}
	var first error
	err := withContext(a.ctx, func() error {
		for _, free := range a.cache {
			for _, p := range free {
				if err := cu.MemFree(p); err != nil && first == nil {
					first = fmt.Errorf("cuda: %s (context %v): cuMemFree: %w", a.name, a.ctx, err)
				}
			}
		}
		return nil
	})
	a.cache = map[int64][]cu.DevicePtr{}
	a.cachedBytes = 0
	if first == nil {
		first = err
	}
	return first
}

// malloc is cuMemAlloc in a.ctx; a.mu held.
func (a *Allocator) malloc(size int64) (cu.DevicePtr, error) {
	var p cu.DevicePtr
	err := withContext(a.ctx, func() error {
		var err error
		p, err = cu.MemAlloc(size)
		return err
	})
	return p, err
}

// withContext runs f with ctx pushed as the calling thread's current context, and pops
// it afterwards: a call made on any thread, whatever context is current there (or none),
// acts in ctx and leaves the thread as it found it. The goroutine stays on its OS thread
// for the duration (LockOSThread nests, so a caller's own lock is kept).
func withContext(ctx cu.CUContext, f func() error) (err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.PushCurrentCtx(ctx); err != nil {
		return fmt.Errorf("cuda: cuCtxPushCurrent(%v): %w", ctx, err)
	}
	defer func() {
		if _, perr := cu.PopCurrentCtx(); perr != nil && err == nil {
			err = fmt.Errorf("cuda: cuCtxPopCurrent: %w", perr)
		}
	}()
	return f()
}
