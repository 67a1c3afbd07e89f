// Parallel: the shared pool of long-lived worker goroutines and the chunked parallel-for over it.

package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
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
	for {
		j := p.next()
		j.work()
		j.finished.Add(1)
		j.wg.Done()
	}
}

// pollFor is how long a helper that finished a job polls the queue before
// it blocks on it, and how long a caller polls for its helpers to finish
// before it blocks on them. A step's ops post jobs tens of microseconds
// apart (a GEMM posts two: its packing, then its tiles), and a goroutine
// blocked on a channel or a WaitGroup runs again only once the scheduler
// has woken a thread for it, which on a VM costs about as much as a small
// GEMM's share of work: polling made a step of the configuration (b)
// on two cores about 15% faster, and 4 virtual devices of the default model
// about as much. Both polls yield between looks, so a goroutine of another
// device that wants the core gets it.
const pollFor = 50 * time.Microsecond

// next takes the next job: polling for pollFor, yielding the processor
// between polls to any other goroutine that wants it, then blocking.
func (p *pool) next() *job {
	start := time.Now()
	for {
		select {
		case j := <-p.jobs:
			return j
		default:
		}
		if time.Since(start) > pollFor {
			return <-p.jobs
		}
		runtime.Gosched()
	}
}

// job is one parallel-for in flight. Helpers and the caller claim chunks of
// grain items with an atomic counter until none are left.
type job struct {
	t        task
	n, grain int
	next     atomic.Int64
	finished atomic.Int32   // helpers whose work is done: counted before wg's Done, so a caller that sees them all waits on wg only for Done itself
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
	j.finished.Store(0)
	j.wg.Add(helpers)
	for range helpers {
		sharedPool.jobs <- j
	}
	j.work()
	for start := time.Now(); int(j.finished.Load()) < helpers && time.Since(start) < pollFor; {
		runtime.Gosched()
	}
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
