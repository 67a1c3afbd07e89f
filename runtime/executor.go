// The executor: one worker per device runs its action list in order, timing every action with events on one time base.

package runtime

import (
	"fmt"
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
	mem      *device.Owned // what the stage allocated on Device, handed back when a move drops it
	stashes  *stashPool
	graphs   stageGraphs    // its actions' CUDA graphs (graphs.go)
	tiedRecv kernels.Buffer // (V,C) the other end's part of the tied gradient
	// Device's optional interfaces, found once (see devices): nil where
	// it has none.
	releaser  device.EventReleaser
	stretcher device.Stretcher
}

// NewStage makes stage index of stack on dev.
func NewStage(index int, dev device.Device, stack *transformer.Stack) *Stage {
	st := &Stage{Index: index, Device: dev, Stack: stack, stashes: newStashPool(stack)}
	st.releaser, _ = dev.(device.EventReleaser)
	st.stretcher, _ = dev.(device.Stretcher)
	return st
}

// release hands ev, an event of the stage's device that nobody will use
// again, back to the device when it pools its events (nil: nothing).
func (st *Stage) release(ev device.Event) {
	if st.releaser != nil && ev != nil {
		st.releaser.Release(ev)
	}
}

// stretch makes the work on a slowed device since since take longer
// (device.StretchSince).
func (st *Stage) stretch(since device.Event) {
	if st.stretcher != nil {
		st.stretcher.Stretch(since)
	}
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
	// CUDAGraphs runs each compute action (F, B, I, W) of a stage on a
	// device that can (CUDA) as a graph: captured on its second run per stash
	// (and per loss slot on the last stage), then replayed in one launch,
	// between the same events as its kernels would be (graphs.go). Steps
	// that time layers run their actions directly.
	CUDAGraphs bool
	// Group, in a run of several processes, says which rank holds each
	// device; Stages and Devices then hold nil for the other ranks' (nil:
	// every device is this process's).
	Group *Group

	links       map[linkKey]device.PeerLink // a run of several processes' links between devices (openLinks)
	hostSent    hostSends                   // its sends through the mesh, where no link joins the devices
	reservedFor *schedule.Schedule          // the schedule whose StashBound the stages hold
	seq         int64                       // steps run, evaluations included: the same on every rank, so it names their messages
	eager       eagerBackups
	// failed says the last step failed: its gradients, and updates of the
	// eager optimizer, may be part done (undoFailed undoes them).
	failed bool
	// trained is the last training step's state, reset and run again by
	// the next one while steps succeed, so that a step in steady state
	// allocates nothing (see run.reset); a failed step drops it.
	trained *run
	dogs    watchdogs // the waits' watchdogs, kept from step to step
	// left are the workers a failed step gave up waiting for (join), one
	// token each to come on its channel: still running, on the devices'
	// memory, until they end (settle).
	left []chan struct{}
}

// run is the shared state of one step. A successful step leaves it ready
// for the next over the same lists (reset): every mailbox emptied, every
// token taken.
type run struct {
	ex      *Executor
	in      *StepInput
	lists   [][]schedule.Action
	rules   schedule.StashRules
	mail    map[schedule.Action]chan device.Event // per receive: its send's event
	tied    []chan device.Event                   // per stage: its part of the tied gradient has landed at the other end
	squares [][]float64                           // per stage: gradient sums of squares
	// squared holds, once stage s has published its squares, a token for
	// each stage of this process that applies (readers): each takes one.
	squared  []chan struct{}
	readers  int
	lossSums []float64
	progress []atomic.Int64 // per device: index of the action being run
	moved    func() int64   // moves, made once: a method value is an allocation
	seq      int64          // the executor's count of steps, this one's
	abort    chan struct{}
	once     sync.Once
	err      error

	records [][]timedAction // per device: its worker's timed actions, kept for their capacity
	base    timeBase        // the step's origins, set before the workers start
	ready   sync.WaitGroup  // the workers are bound to their devices
	gate    chan struct{}   // a token per worker: the origin is taken, go
	done    chan struct{}   // a token per worker and squares receiver that ended
	started int             // workers and receivers started: the tokens join waits for
}

// Run executes one training step of the schedule. A step that fails leaves
// no gradient behind and, with the eager optimizer, no update (undoFailed).
func (ex *Executor) Run(in *StepInput) (*StepResult, error) {
	return ex.execute(ex.Sched.Lists, in, nil)
}

// RunInto is Run with the result written into res, whose slices are
// reused where they are large enough: a caller that recycles its results
// makes a step in steady state allocate nothing. res must not be read
// while it runs.
func (ex *Executor) RunInto(in *StepInput, res *StepResult) (*StepResult, error) {
	return ex.execute(ex.Sched.Lists, in, res)
}

// Evaluate runs micro-batches forward only and returns the mean loss.
func (ex *Executor) Evaluate(in *StepInput) (float64, error) {
	lists := forwardOnly(ex.Sched)
	e := *in
	e.DScale = 0
	r, err := ex.execute(lists, &e, nil)
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
		records:  make([][]timedAction, len(lists)),
		gate:     make(chan struct{}, len(lists)),
		done:     make(chan struct{}, len(lists)+p),
	}
	r.moved = r.moves
	if !ex.EagerOptimizer {
		r.readers = len(ex.localStages())
	}
	for s := range p {
		r.tied[s] = make(chan device.Event, 1)
		r.squared[s] = make(chan struct{}, max(r.readers, 1))
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

// runFor is the state for a step over lists: the last training step's,
// reset, when lists are the schedule's and it succeeded; else a new one
// (evaluation's forward-only lists, the first step, a new schedule).
func (ex *Executor) runFor(lists [][]schedule.Action, in *StepInput) *run {
	train := len(lists) > 0 && len(ex.Sched.Lists) == len(lists) && &lists[0] == &ex.Sched.Lists[0]
	if r := ex.trained; train && r != nil && &r.lists[0] == &lists[0] {
		r.reset(in)
		return r
	}
	r := ex.newRun(lists, in)
	if train {
		ex.trained = r
	}
	return r
}

// reset readies a run whose last step succeeded for the next: its
// mailboxes are empty and its tokens taken, so only the counters and the
// step's input change.
func (r *run) reset(in *StepInput) {
	r.in, r.seq, r.started = in, r.ex.seq, 0
	for d := range r.progress {
		r.progress[d].Store(0)
	}
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
		for _, d := range ex.Devices {
			if d != nil { // another rank's
				d.Sync()
			}
		}
		for _, st := range ex.Stages {
			if st != nil {
				st.stashes.reclaim()
			}
		}
		return ex.undoFailed()
	})
}

// execute runs lists once. res, when not nil, is filled in place of a new
// result, its slices reused (RunInto).
func (ex *Executor) execute(lists [][]schedule.Action, in *StepInput, res *StepResult) (*StepResult, error) {
	if err := ex.prepare(); err != nil {
		ex.trained = nil
		return nil, err
	}
	ex.seq++
	r := ex.runFor(lists, in)
	out, err := r.execute(res)
	if err != nil {
		ex.trained = nil // its mailboxes and tokens may hold what the failure left
		ex.failed = true
		if len(ex.left) == 0 {
			// No worker runs on: the step is undone now, so that a failed
			// step leaves the model as it found it. Where this fails, the
			// next step's prepare tries again and fails on it.
			guard(ex.undoFailed)
		}
	}
	return out, err
}

func (r *run) execute(res *StepResult) (*StepResult, error) {
	ex := r.ex
	r.receiveSquares()
	workers := 0
	for d := range r.lists {
		if ex.Devices[d] == nil {
			continue // another rank's
		}
		workers++
		r.started++
		r.ready.Add(1)
		deviceWorkers.start(deviceJob{r, d})
	}
	// The origin is taken once every worker is bound and waiting, so that
	// no device's timeline starts before its worker can run.
	r.ready.Wait()
	err := guard(func() error { r.base.take(ex.Devices); return nil })
	if err != nil {
		r.base.origins = nil
		r.fail(err)
	}
	for range workers {
		r.gate <- struct{}{}
	}
	if err := r.join(); err != nil {
		return nil, err
	}
	return r.finish(res)
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
func (r *run) finish(res *StepResult) (*StepResult, error) {
	err := guard(func() error {
		res = r.base.times(r.ex.Devices, r.records, res)
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
			clear(r.ex.eager.begun) // the step stands as validated
		}
	}
	return res, nil
}
