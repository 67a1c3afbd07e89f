// Parallel: the shared pool of long-lived worker goroutines and the chunked parallel-for over it.

package cpu

import (
	"sync"
	"sync/atomic"
)

// task is one op's work, split into items [0, n). run must give the same
// results however the items are grouped into calls, so that the number of
// workers can never change an output bit: items are independent output rows,
// heads or tiles, never parts of one floating-point sum.
type task interface {
	run(lo, hi int)
}

// minChunkCost is the smallest amount of work (roughly flops) worth handing
// to another goroutine: waking one costs a few microseconds.
const minChunkCost = 1 << 15

// pool is a set of helper goroutines shared by every Ops value. They live for
// the life of the process, so an op spawns nothing and allocates nothing.
type pool struct {
	mu   sync.Mutex
	n    int
	jobs chan *job
}

var sharedPool = &pool{jobs: make(chan *job, 1024)}

// grow makes sure at least n helpers exist.
func (p *pool) grow(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for ; p.n < n; p.n++ {
		go p.loop()
	}
}

func (p *pool) loop() {
	for j := range p.jobs {
		j.work()
		j.wg.Done()
	}
}

// job is one parallel-for in flight. Helpers and the caller claim chunks of
// grain items with an atomic counter until none are left.
type job struct {
	t        task
	n, grain int
	next     atomic.Int64
	wg       sync.WaitGroup // one per helper the job was sent to
}

// parallelRuns counts calls that used helpers, so tests can tell that a
// determinism check really compared a parallel run with a serial one.
var parallelRuns atomic.Int64

var jobs freeList[job]

func (j *job) work() {
	for {
		lo := int(j.next.Add(1)-1) * j.grain
		if lo >= j.n {
			return
		}
		j.t.run(lo, min(lo+j.grain, j.n))
	}
}

// parallel runs t over items [0, n) in chunks of grain items on up to
// o.workers goroutines, the caller included, and returns when all are done.
func (o *Ops) parallel(n, grain int, t task) {
	if n <= 0 {
		return
	}
	grain = max(grain, 1)
	helpers := min(o.workers, (n+grain-1)/grain) - 1
	if helpers <= 0 {
		t.run(0, n)
		return
	}
	parallelRuns.Add(1)
	j := jobs.get()
	j.t, j.n, j.grain = t, n, grain
	j.next.Store(0)
	j.wg.Add(helpers)
	for range helpers {
		sharedPool.jobs <- j
	}
	j.work()
	j.wg.Wait()
	j.t = nil
	jobs.put(j)
}

// grain picks a chunk size for n items of the given cost each: big enough to
// be worth a goroutine, small enough to give every worker a few chunks.
func (o *Ops) grain(n, cost int) int {
	g := (minChunkCost + cost - 1) / max(cost, 1)
	return max(g, (n+4*o.workers-1)/(4*o.workers))
}
