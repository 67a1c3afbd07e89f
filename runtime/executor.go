// The executor: one worker per device runs its action list, timing every action with events.

package runtime

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"baton/kernels"
	"baton/transformer"
)

// Stage is a part of the model pinned to a device.
type Stage struct {
	Index    int
	Device   Device
	Stack    *transformer.Stack
	tiedRecv kernels.Buffer // (V,C) the other end's part of the tied gradient
}

// StepInput is one training step's data and optimizer settings.
type StepInput struct {
	Tokens, Targets [][]int32 // per micro-batch, (B,T) each
	DScale          float32   // 1 / tokens in the whole batch; 0 evaluates
	AdamStep        int       // 1-based step for AdamW's bias correction
	Adam            kernels.AdamParams
	MaxGradNorm     float64 // clip the global gradient norm to this (0: no clipping)
}

// Record is one action's place on its device's timeline, from the step's origin.
type Record struct {
	Action     Action
	Start, End time.Duration
	Wait       time.Duration // receives: how long the device waited on its neighbour
	start, end Event
	w0, w1     Event
}

// StepResult is what one step did and how long every part of it took.
type StepResult struct {
	Loss     float64 // mean loss per token
	GradNorm float64 // global gradient norm before clipping (0 when evaluating)
	Records  [][]Record
	Time     time.Duration // the step's span: origin to the last action's end
}

// Executor runs a lowered schedule over stages. It decides nothing: every
// worker does what its list says, in order.
type Executor struct {
	Sched   *Schedule
	Stages  []*Stage
	Devices []Device
	Timeout time.Duration // how long a receive may wait before the step fails

	reservedFor *Schedule // the schedule whose StashBound the stages hold
}

type mailKey struct {
	kind      Kind // RecvF or RecvB: the receive that consumes it
	stage, mb int
}

// run is the shared state of one step.
type run struct {
	ex       *Executor
	in       *StepInput
	lists    [][]Action
	mail     map[mailKey]chan Event
	tied     []chan Event // per stage: its part of the tied gradient has landed at the other end
	squares  [][]float64  // per stage: gradient sums of squares
	squared  []chan struct{}
	lossSums []float64
	split    map[[2]int]bool // (stage, micro-batch) whose backward is split into I and W
	progress []atomic.Int64  // per device: index of the action being run
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
func forwardOnly(s *Schedule) [][]Action {
	out := make([][]Action, len(s.Lists))
	for d, l := range s.Lists {
		for _, a := range l {
			if a.Kind == F || a.Kind == SendF || a.Kind == RecvF {
				out[d] = append(out[d], a)
			}
		}
	}
	return out
}

func (ex *Executor) execute(lists [][]Action, in *StepInput) (*StepResult, error) {
	p := len(ex.Stages)
	r := &run{
		ex: ex, in: in, lists: lists,
		mail:     map[mailKey]chan Event{},
		tied:     make([]chan Event, p),
		squares:  make([][]float64, p),
		squared:  make([]chan struct{}, p),
		progress: make([]atomic.Int64, len(lists)),
		abort:    make(chan struct{}),
		split:    map[[2]int]bool{},
	}
	for s := range p {
		r.tied[s] = make(chan Event, 1)
		r.squared[s] = make(chan struct{})
	}
	for _, l := range lists {
		for _, a := range l {
			if a.Kind == RecvF || a.Kind == RecvB {
				r.mail[mailKey{a.Kind, a.Stage, a.Microbatch}] = make(chan Event, 1)
			}
			if a.Kind == W {
				r.split[[2]int{a.Stage, a.Microbatch}] = true
			}
		}
	}
	// Device faults outside the workers (CUDA devices panic) become the step's error.
	err := guard(func() error {
		if ex.reservedFor != ex.Sched {
			// Before any worker runs: a stage's stashes are taken on its
			// neighbour's goroutine, where they must not be allocated.
			// Evaluation runs under the same bound (its sends then wait for
			// releases).
			for s, n := range StashBound(ex.Sched.Lists, p) {
				ex.Stages[s].Stack.Reserve(n)
			}
			ex.reservedFor = ex.Sched
		}
		for _, d := range ex.Devices {
			d.Sync()
		}
		for _, st := range ex.Stages {
			st.Stack.Reclaim() // what a failed step left taken
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	records := make([][]Record, len(lists))
	origins := make([]Event, len(lists))
	var start, wg sync.WaitGroup
	start.Add(1)
	for d := range lists {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var unbind func()
			err := guard(func() error { unbind = ex.Devices[d].Bind(); return nil })
			if err == nil {
				defer unbind()
				start.Wait()
				err = guard(func() error { origins[d] = ex.Devices[d].Record(); return nil })
			}
			if err != nil {
				r.fail(fmt.Errorf("%s: %w", ex.Devices[d].Name(), err))
				return
			}
			records[d] = r.worker(d)
		}()
	}
	start.Done()
	if err := r.join(&wg); err != nil {
		return nil, err
	}
	var res *StepResult
	err = guard(func() error {
		if in.DScale == 0 { // training read them at its STEP, before the gradient norm
			r.lossSums = ex.Stages[p-1].Stack.LossSums(len(in.Tokens))
		}
		res = timeRecords(ex.Devices, origins, records)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("the step's end: %w", err)
	}
	var sum float64
	for _, l := range r.lossSums {
		sum += l
	}
	res.Loss = sum / float64(len(in.Tokens)*len(in.Tokens[0]))
	if in.DScale != 0 {
		res.GradNorm = r.gradNorm()
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
	select {
	case <-done:
		return r.err
	case <-time.After(min(5*time.Second, r.timeout())):
		return fmt.Errorf("%w\nsome devices did not stop: %s", r.err, r.where())
	}
}

// fail records the first error and stops every worker, a send waiting for
// a stash of its neighbour's included.
func (r *run) fail(err error) {
	r.once.Do(func() {
		r.err = err
		close(r.abort)
		for _, st := range r.ex.Stages {
			st.Stack.Interrupt()
		}
	})
}

var errAborted = errors.New("aborted")

func (r *run) worker(d int) []Record {
	dev := r.ex.Devices[d]
	list := r.lists[d]
	recs := make([]Record, 0, len(list))
	for i, a := range list {
		r.progress[d].Store(int64(i))
		var err error
		if a.Kind == Step {
			var steps []Record
			steps, err = r.steps(dev, list[i:])
			recs = append(recs, steps...)
		} else {
			rec := Record{Action: a}
			err = guard(func() error { return r.do(dev, a, &rec) })
			recs = append(recs, rec)
		}
		var numeric *NumericError
		switch {
		case err == nil:
			if a.Kind == Step {
				r.progress[d].Store(int64(len(list)))
				return recs
			}
		case err == errAborted:
			return recs
		case errors.As(err, &numeric):
			r.fail(err) // not the schedule's fault: the grid would not help
			return recs
		default:
			r.fail(fmt.Errorf("%s: action %s failed: %w\n%s", dev.Name(), a, err, r.grid(d, i)))
			return recs
		}
	}
	r.progress[d].Store(int64(len(list)))
	return recs
}

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

// do runs one action other than STEP.
func (r *run) do(dev Device, a Action, rec *Record) error {
	st := r.ex.Stages[a.Stage]
	stack := st.Stack
	mb := a.Microbatch
	evaluating := r.in.DScale == 0 // no backward follows: a stash is done once its output is passed on
	rec.start = dev.Record()
	switch a.Kind {
	case F:
		var tokens, targets []int32
		if stack.Spec().Embed {
			tokens = r.in.Tokens[mb]
		}
		if stack.Spec().Head {
			targets = r.in.Targets[mb]
		}
		stack.Forward(mb, tokens, targets, r.in.DScale)
		rec.end = dev.Record()
		if stack.Spec().Head && evaluating {
			stack.Release(mb, dev.Record()) // its losses stay in the step's loss buffer
		}
		return nil
	case B:
		stack.Backward(mb)
		if stack.Spec().Embed {
			stack.Release(mb, dev.Record())
		}
	case I:
		stack.BackwardInput(mb)
	case W:
		stack.BackwardWeight(mb) // after the SEND_B of its I, so the stash is done
		stack.Release(mb, dev.Record())
	// A send releases its stash before it posts the event: whoever the event
	// reaches then also sees the stash free (StashBound counts on it).
	case SendF:
		next := r.ex.Stages[a.Stage+1]
		in, fence := next.Stack.Input(mb)
		if fence != nil {
			dev.Wait(fence) // the next stage's device may still read the stash
		}
		dev.CopyTo(next.Device, in, stack.Output(mb))
		ev := dev.Record()
		if evaluating {
			stack.Release(mb, ev)
		}
		r.mail[mailKey{RecvF, a.Stage + 1, mb}] <- ev
	case SendB:
		prev := r.ex.Stages[a.Stage-1]
		dev.CopyTo(prev.Device, prev.Stack.GradOutput(mb), stack.GradInput(mb))
		ev := dev.Record()
		if !r.split[[2]int{a.Stage, mb}] {
			stack.Release(mb, ev)
		}
		r.mail[mailKey{RecvB, a.Stage - 1, mb}] <- ev
	case RecvF, RecvB:
		rec.w0 = rec.start
		ev, err := r.receive(dev, a, r.mail[mailKey{a.Kind, a.Stage, mb}])
		if err != nil {
			return err
		}
		dev.Wait(ev)
		rec.w1 = dev.Record()
	default:
		return fmt.Errorf("the executor has no implementation of %s actions", a.Kind)
	}
	rec.end = dev.Record()
	return nil
}

// receive waits for a neighbour's event, or fails after the timeout saying
// what every device is doing.
func (r *run) receive(dev Device, a Action, ch chan Event) (Event, error) {
	timeout := r.timeout()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case ev := <-ch:
		return ev, nil
	case <-r.abort:
		return nil, errAborted
	case <-timer.C:
		return nil, fmt.Errorf("waited %v for %s without progress; devices are at: %s", timeout, a, r.where())
	}
}

// timeout is how long a receive may wait: the executor's, or 10 minutes.
func (r *run) timeout() time.Duration {
	if r.ex.Timeout > 0 {
		return r.ex.Timeout
	}
	return 10 * time.Minute
}

// where says which action each device is on.
func (r *run) where() string {
	var parts []string
	for d, l := range r.lists {
		i := int(r.progress[d].Load())
		at := "done"
		if i < len(l) {
			at = l[i].String()
		}
		parts = append(parts, fmt.Sprintf("%s at %s (%d/%d)", r.ex.Devices[d].Name(), at, i, len(l)))
	}
	return strings.Join(parts, ", ")
}

// grid prints every device's list with the failing action marked.
func (r *run) grid(failDev, failIdx int) string {
	var b strings.Builder
	for d, l := range r.lists {
		fmt.Fprintf(&b, "  %-8s", r.ex.Devices[d].Name())
		for i, a := range l {
			if d == failDev && i == failIdx {
				fmt.Fprintf(&b, " >>%s<<", a)
			} else {
				fmt.Fprintf(&b, " %s", a)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// timeRecords turns each device's recorded events into times from its step
// origin, once the device has drained: GPU events can be read only then.
// The events are then dropped (and handed back to a device that pools them):
// nothing reads them again.
func timeRecords(devs []Device, origins []Event, records [][]Record) *StepResult {
	res := &StepResult{Records: records}
	for d, recs := range records {
		res.Time = max(res.Time, timeDevice(devs[d], origins[d], recs))
	}
	return res
}

// timeDevice times one device's records and returns the end of its last.
func timeDevice(dev Device, origin Event, recs []Record) (last time.Duration) {
	defer dev.Bind()()
	dev.Sync()
	for i := range recs {
		rec := &recs[i]
		rec.Start, rec.End = dev.Elapsed(origin, rec.start), dev.Elapsed(origin, rec.end)
		if rec.w0 != nil {
			rec.Wait = dev.Elapsed(rec.w0, rec.w1)
		}
		last = max(last, rec.End)
	}
	if r, ok := dev.(eventReleaser); ok {
		r.Release(origin)
		for i := range recs {
			for _, e := range []Event{recs[i].start, recs[i].end, recs[i].w0, recs[i].w1} {
				if e != nil {
					r.Release(e)
				}
			}
		}
	}
	for i := range recs {
		recs[i].start, recs[i].end, recs[i].w0, recs[i].w1 = nil, nil, nil, nil
	}
	return last
}

// eventReleaser is a device that pools its events and takes back, at once,
// those nobody will use again.
type eventReleaser interface{ Release(e Event) }
