// The executor: one worker per device runs its action list in order, timing every action with events on one time base.

package runtime

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"

	"baton/kernels"
	"baton/runtime/device"
	"baton/runtime/dist"
	"baton/runtime/report"
	"baton/runtime/schedule"
	"baton/transformer"
)

// Stage is a part of the model pinned to a device.
type Stage struct {
	Index    int
	Device   device.Device
	Stack    *transformer.Stack
	stashes  *stashPool
	tiedRecv kernels.Buffer // (V,C) the other end's part of the tied gradient
}

// NewStage makes stage index of stack on dev.
func NewStage(index int, dev device.Device, stack *transformer.Stack) *Stage {
	return &Stage{Index: index, Device: dev, Stack: stack, stashes: newStashPool(stack)}
}

// Stashes is how many micro-batch stashes the stage has allocated.
func (st *Stage) Stashes() int { return st.stashes.count() }

// StepInput is one training step's data and optimizer settings.
type StepInput struct {
	Tokens, Targets [][]int32 // per micro-batch, (B,T) each
	DScale          float32   // 1 / tokens in the whole batch; 0 evaluates
	AdamStep        int       // 1-based step for AdamW's bias correction
	Adam            kernels.AdamParams
	MaxGradNorm     float64 // clip the global gradient norm to this (0: no clipping)
	// ProfileLayers times each unit (the embedding, each block, the head)
	// inside every F, B, I and W: an event at each unit's end.
	ProfileLayers bool
}

// StepResult is what one step did and how long every part of it took, on
// one time base for all devices.
type StepResult struct {
	Loss     float64 // mean loss per token
	GradNorm float64 // global gradient norm before clipping (0 when evaluating)
	report.Step
	// ClockSkew bounds how far apart the devices' origins may lie: 0 for
	// devices that read one clock (CPU), else the time the last device to
	// reach the step's barrier took to record its origin after it.
	ClockSkew time.Duration
	// Origin is the host's wall time at the step's origin: where a rank's
	// step lies on a timeline of several ranks.
	Origin time.Time
	// Redone says the eager optimizer's step was undone because the global
	// norm clipped (and then redone clipped) or was not finite; RedoTime is
	// the host's time for the undo and redo, waiting for the devices.
	Redone   bool
	RedoTime time.Duration
}

// Executor runs a lowered schedule over stages. It decides nothing: every
// worker does what its list says, in order.
type Executor struct {
	Sched   *schedule.Schedule
	Stages  []*Stage
	Devices []device.Device
	// Timeout is how long a receive may wait while no device progresses
	// before the step fails, in the time the process ran (a stopped
	// process stalls nothing); 0 waits without limit.
	Timeout time.Duration
	// EagerOptimizer steps each stage as soon as its own gradients are
	// ready, unclipped, instead of waiting at the step's end for every
	// stage's part of the global gradient norm; the step's end then undoes
	// and redoes the steps the norm says should have clipped, from a copy of
	// the parameters and moments (as much memory again as those), so the
	// results are the default's bit for bit.
	EagerOptimizer bool
	// Group, in a run of several processes, says which rank holds each
	// device; Stages and Devices then hold nil for the other ranks' (nil:
	// every device is this process's).
	Group *Group

	links       map[linkKey]device.PeerLink // a run of several processes' links between devices (openLinks)
	reservedFor *schedule.Schedule          // the schedule whose StashBound the stages hold
	seq         int64                       // steps run, evaluations included: the same on every rank, so it names their messages
	eager       eagerBackups
}

// run is the shared state of one step.
type run struct {
	ex       *Executor
	in       *StepInput
	lists    [][]schedule.Action
	rules    schedule.StashRules
	mail     map[schedule.Action]chan device.Event // per receive: its send's event
	tied     []chan device.Event                   // per stage: its part of the tied gradient has landed at the other end
	squares  [][]float64                           // per stage: gradient sums of squares
	squared  []chan struct{}
	lossSums []float64
	progress []atomic.Int64 // per device: index of the action being run
	seq      int64          // the executor's count of steps, this one's
	abort    chan struct{}
	once     sync.Once
	err      error
}

// Run executes one training step of the schedule.
func (ex *Executor) Run(in *StepInput) (*StepResult, error) {
	return ex.execute(ex.Sched.Lists, in)
}

// Evaluate runs micro-batches forward only and returns the mean loss.
func (ex *Executor) Evaluate(in *StepInput) (float64, error) {
	lists := forwardOnly(ex.Sched)
	e := *in
	e.DScale = 0
	r, err := ex.execute(lists, &e)
	if err != nil {
		return 0, err
	}
	return r.Loss, nil
}

// forwardOnly keeps a lowered schedule's forward actions and their transfers.
func forwardOnly(s *schedule.Schedule) [][]schedule.Action {
	out := make([][]schedule.Action, len(s.Lists))
	for d, l := range s.Lists {
		for _, a := range l {
			if a.Kind == schedule.F || a.Kind == schedule.SendF || a.Kind == schedule.RecvF {
				out[d] = append(out[d], a)
			}
		}
	}
	return out
}

func (ex *Executor) newRun(lists [][]schedule.Action, in *StepInput) *run {
	p := len(ex.Stages)
	r := &run{
		ex: ex, in: in, lists: lists, rules: schedule.NewStashRules(lists, p),
		mail:     map[schedule.Action]chan device.Event{},
		tied:     make([]chan device.Event, p),
		squares:  make([][]float64, p),
		squared:  make([]chan struct{}, p),
		progress: make([]atomic.Int64, len(lists)),
		abort:    make(chan struct{}),
		seq:      ex.seq,
	}
	for s := range p {
		r.tied[s] = make(chan device.Event, 1)
		r.squared[s] = make(chan struct{})
	}
	for _, l := range lists {
		for _, a := range l {
			if a.Kind == schedule.RecvF || a.Kind == schedule.RecvB {
				r.mail[a] = make(chan device.Event, 1)
			}
		}
	}
	return r
}

// prepare readies the stages for a step: the stashes the schedule needs,
// reserved before any worker runs (a stage's stashes are taken on its
// neighbour's goroutine, where they must not be allocated; evaluation runs
// under the same bound, its sends then waiting for releases), the devices
// drained, and whatever a failed step left taken handed back.
func (ex *Executor) prepare() error {
	// Device faults outside the workers (CUDA devices panic) become the step's error.
	return guard(func() error {
		if ex.reservedFor != ex.Sched {
			for s, n := range schedule.StashBound(ex.Sched.Lists, len(ex.Stages)) {
				if !ex.remote(s) {
					ex.Stages[s].stashes.reserve(n)
				}
			}
			ex.reservedFor = ex.Sched
		}
		for _, d := range ex.localDevices() {
			d.Sync()
		}
		for _, st := range ex.localStages() {
			st.stashes.reclaim()
		}
		return nil
	})
}

func (ex *Executor) execute(lists [][]schedule.Action, in *StepInput) (*StepResult, error) {
	if err := ex.prepare(); err != nil {
		return nil, err
	}
	ex.seq++
	r := ex.newRun(lists, in)
	records := make([][]timedAction, len(lists))
	var base *timeBase
	var ready, wg sync.WaitGroup
	gate := make(chan struct{})
	r.receiveSquares(&wg)
	for d := range lists {
		if ex.Devices[d] == nil {
			continue // another rank's
		}
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			var unbind func()
			err := guard(func() error { unbind = ex.Devices[d].Bind(); return nil })
			ready.Done()
			if err != nil {
				r.fail(fmt.Errorf("%s: %w", ex.Devices[d].Name(), err))
				return
			}
			defer unbind()
			<-gate
			if base != nil {
				records[d] = r.worker(d, base.origins[d])
			}
		}()
	}
	// The origin is taken once every worker is bound and waiting, so that
	// no device's timeline starts before its worker can run.
	ready.Wait()
	err := guard(func() error { base = newTimeBase(ex.Devices); return nil })
	if err != nil {
		r.fail(err)
	}
	close(gate)
	if err := r.join(&wg); err != nil {
		return nil, err
	}
	return r.finish(base, records)
}

// localDevices are the devices of this process, in order.
func (ex *Executor) localDevices() []device.Device {
	var out []device.Device
	for _, d := range ex.Devices {
		if d != nil {
			out = append(out, d)
		}
	}
	return out
}

// localStages are the stages of this process, in order.
func (ex *Executor) localStages() []*Stage {
	var out []*Stage
	for _, st := range ex.Stages {
		if st != nil {
			out = append(out, st)
		}
	}
	return out
}

// evaluationLosses reads an evaluation's losses from the last stage: here
// (then sent to the other ranks), or from its rank.
func (r *run) evaluationLosses() error {
	last := len(r.ex.Stages) - 1
	tag := r.tag(msgLosses, last, 0)
	if r.ex.remote(last) {
		msg, err := r.receiveMessage(schedule.Action{Stage: last, Kind: schedule.F, Microbatch: -1}, last, tag)
		if err != nil {
			return err
		}
		r.lossSums = make([]float64, len(r.in.Tokens))
		return dist.DecodeFloat64s(msg, r.lossSums)
	}
	err := guard(func() error { r.lossSums = r.ex.Stages[last].Stack.LossSums(len(r.in.Tokens)); return nil })
	if err != nil {
		return fmt.Errorf("the step's end: %w", err)
	}
	if r.ex.Group != nil {
		return r.sendValues(tag, r.lossSums)
	}
	return nil
}

// finish reads the losses back and the records' times, and settles an
// eager optimizer's step, once the workers are done.
func (r *run) finish(base *timeBase, records [][]timedAction) (*StepResult, error) {
	var res *StepResult
	err := guard(func() error {
		res = base.times(r.ex.Devices, records)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("the step's end: %w", err)
	}
	if err := r.ex.linkErr(); err != nil {
		return nil, err
	}
	if r.in.DScale == 0 { // training read them at its STEP, before the gradient norm
		if err := r.evaluationLosses(); err != nil {
			return nil, err
		}
	}
	var sum float64
	for _, l := range r.lossSums {
		sum += l
	}
	res.Loss = sum / float64(len(r.in.Tokens)*len(r.in.Tokens[0]))
	if r.in.DScale != 0 {
		res.GradNorm = r.gradNorm()
		if r.ex.EagerOptimizer {
			if err := r.validateEager(res); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// join waits for the workers. After a failure it waits only a little for
// the others to stop: a device stuck in a kernel or a copy cannot be
// interrupted, and the caller must still get the error rather than hang.
func (r *run) join(wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return r.err
	case <-r.abort:
	}
	// The grace runs on the watchdog's clock, so that a process stopped
	// here does not report devices as stuck.
	grace := joinGrace
	if r.ex.Timeout > 0 {
		grace = min(grace, r.ex.Timeout)
	}
	w := newWatchdog(grace, nil)
	defer w.stop()
	for {
		select {
		case <-done:
			return r.err
		case <-w.C():
			if w.expired() {
				return fmt.Errorf("%w\nsome devices did not stop: %s", r.err, r.where())
			}
		}
	}
}

// joinGrace is how long the workers get to stop after a failure at most.
const joinGrace = 5 * time.Second

// fail records the first error and stops every worker, a send waiting for
// a stash of its neighbour's included.
func (r *run) fail(err error) {
	r.once.Do(func() {
		r.err = err
		close(r.abort)
		for _, st := range r.ex.localStages() {
			st.stashes.interrupt()
		}
	})
}

var errAborted = errors.New("aborted")

// guard turns a panic (a broken invariant in a kernel or a stack) into an
// error, so the grid of actions can be printed.
func guard(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			// A device's error (out of memory, a failed CUDA call) reads as
			// itself; a bug in Go code (a runtime.Error, a string) says panic.
			var bug goruntime.Error
			if e, ok := p.(error); ok && !errors.As(e, &bug) {
				err = e
				return
			}
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return f()
}
