// The device workers' pool: goroutines that outlive a step, so that a step in steady state starts none.

package runtime

import (
	"fmt"
	"sync"
)

// deviceJob is device d's worker for run r.
type deviceJob struct {
	r *run
	d int
}

// run binds the device, waits at the gate and runs the device's list;
// the pool then leaves a token in done.
func (j deviceJob) run() {
	r, d := j.r, j.d
	var unbind func()
	err := guard(func() error { unbind = r.ex.Devices[d].Bind(); return nil })
	r.ready.Done()
	if err != nil {
		r.fail(fmt.Errorf("%s: %w", r.ex.Devices[d].Name(), err))
		<-r.gate
		return
	}
	defer unbind()
	<-r.gate
	if r.base.origins != nil {
		r.records[d] = r.worker(d, r.base.origins[d], r.records[d][:0])
	}
}

// workerPool runs device workers on goroutines that outlive a step: a
// step hands each of its devices' jobs to an idle one and starts one only
// when none is idle, so steps in steady state start no goroutine (whose
// closure would be an allocation). The pool grows to the most devices run
// at once in the process, and its goroutines wait for work until the
// process ends.
type workerPool struct {
	mu   sync.Mutex
	idle int // workers done with their job, and so bound to take one from jobs
	jobs chan deviceJob
}

var deviceWorkers = workerPool{jobs: make(chan deviceJob, 16)}

func (p *workerPool) start(j deviceJob) {
	p.mu.Lock()
	idle := p.idle > 0
	if idle {
		p.idle--
	}
	p.mu.Unlock()
	if idle {
		p.jobs <- j
		return
	}
	go p.serve(j)
}

// serve runs j, then the jobs start hands it. A worker counts as idle
// before it says its job is done, so that the next step, which begins only
// after that, finds it even if it has not yet come back to jobs.
func (p *workerPool) serve(j deviceJob) {
	for {
		j.run()
		p.mu.Lock()
		p.idle++
		p.mu.Unlock()
		j.r.done <- struct{}{}
		j = <-p.jobs
	}
}
