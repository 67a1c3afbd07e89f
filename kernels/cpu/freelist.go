// Free lists: the task structs and scratch buffers of op calls, kept for the life of the process.

package cpu

import "sync"

// freeList hands out *T values and takes them back. Unlike a sync.Pool,
// which a garbage collection empties (and whose internal chains it then
// allocates anew), it keeps what it was given: once it holds as many
// values as calls ever ran at once, a step allocates nothing, however
// often the collector runs. A scratch buffer in it keeps its capacity, so
// it grows to the largest call and then stays.
type freeList[T any] struct {
	mu   sync.Mutex
	free []*T
}

// freeCap is the room a free list makes for returned values at once: more
// than calls run at once on this project's machines, so that a put never
// grows it (an allocation whenever a new most of calls at once is reached,
// which the order of concurrent calls decides).
const freeCap = 64

func (f *freeList[T]) get() *T {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.free)
	if n == 0 {
		if f.free == nil {
			f.free = make([]*T, 0, freeCap)
		}
		return new(T)
	}
	t := f.free[n-1]
	f.free = f.free[:n-1]
	return t
}

func (f *freeList[T]) put(t *T) {
	f.mu.Lock()
	f.free = append(f.free, t)
	f.mu.Unlock()
}

// taskPool recycles one op's argument structs, so handing a task to the
// helpers (which makes it escape) costs no allocation in steady state.
type taskPool[T any] struct{ f freeList[T] }

func (tp *taskPool[T]) get() *T { return tp.f.get() }

// put clears t first so the pool keeps no buffers alive.
func (tp *taskPool[T]) put(t *T) {
	var zero T
	*t = zero
	tp.f.put(t)
}

// grow returns a free list's scratch buffer s with length n, reallocated
// only when it is too short (without copying: callers overwrite it).
func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
