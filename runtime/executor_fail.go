// A step's failure: the first error stops every worker, a panic becomes an error, and the join waits for stuck devices only a little.

package runtime

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"slices"
	"time"
)

// join waits for the workers. After a failure it waits only a little for
// the others to stop: a device stuck in a kernel or a copy cannot be
// interrupted, and the caller must still get the error rather than hang.
func (r *run) join() error {
	n := r.started
	for n > 0 {
		select {
		case <-r.done:
			n--
			continue
		case <-r.abort:
		}
		break
	}
	if n == 0 {
		return r.err
	}
	// The grace runs on the watchdog's clock, so that a process stopped
	// here does not report devices as stuck.
	w := newWatchdog(r.ex.grace(), nil)
	defer w.stop()
	for {
		select {
		case <-r.done:
			if n--; n == 0 {
				return r.err
			}
		case <-w.C():
			if w.expired() {
				r.ex.left = slices.Repeat([]chan struct{}{r.done}, n) // a token from each as it ends
				return fmt.Errorf("%w\nsome devices did not stop: %s", r.err, r.where())
			}
		}
	}
}

// undoFailed, after a failed step, zeroes every stage's gradients (the
// optimizer zeroes them only once it has stepped, and the next step would
// add its own to them) and restores the stages an eager update had begun
// on, so that the step changes nothing. An update of the default
// optimizer stands: it keeps no copy to undo one from, and updates only
// once every stage's gradients are in, so only a failure in a step's last
// moments comes after one. Each stage's device is bound to the calling
// goroutine; a device fault panics (guard).
func (ex *Executor) undoFailed() error {
	if !ex.failed {
		return nil
	}
	for _, st := range ex.localStages() {
		func() {
			defer st.Device.Bind()()
			if b := &ex.eager; b.begun != nil && b.begun[st.Index] {
				b.of[st.Index].Restore()
				b.begun[st.Index] = false
			}
			st.Stack.ZeroGrads()
		}()
	}
	ex.failed = false
	return nil
}

// joinGrace is how long the workers get to stop after a failure at most.
const joinGrace = 5 * time.Second

// grace is how long the workers get to stop after a failure, and then to
// end before their devices are freed: joinGrace, or --timeout where
// shorter, so that a rank that failed still ends within it.
func (ex *Executor) grace() time.Duration {
	if ex.Timeout > 0 {
		return min(joinGrace, ex.Timeout)
	}
	return joinGrace
}

// settle waits, at most d, for the workers a failed step left running,
// and says whether none is left. Until then they may still use the
// devices' memory, events and links: freeing those under a worker that
// went on after --timeout was a write to freed device memory (on cudaemu:
// a copy into no allocation, once a segmentation fault).
func (ex *Executor) settle(d time.Duration) bool {
	ex.left = settleLeft(ex.left, d)
	return len(ex.left) == 0
}

// settleLeft takes one value from each of left in turn, work a failure
// gave up waiting for, in d at most on the watchdog's clock (as join
// waits), and returns those it did not hear from.
func settleLeft[T any](left []chan T, d time.Duration) []chan T {
	if len(left) == 0 {
		return nil
	}
	w := newWatchdog(d, nil)
	defer w.stop()
	for len(left) > 0 {
		select {
		case <-left[0]:
			left = left[1:]
		case <-w.C():
			if w.expired() {
				return left
			}
		}
	}
	return nil
}

// fail records the first error and stops every worker, a send waiting for
// a stash of its neighbour's included. A wait that timed out on another
// rank breaks the mesh naming that rank (hang).
func (r *run) fail(err error) {
	r.once.Do(func() {
		r.err = err
		close(r.abort)
		for _, st := range r.ex.localStages() {
			st.stashes.interrupt()
		}
		var h *hang
		if errors.As(err, &h) {
			r.ex.Group.Mesh.Silent(h.rank, h.tag, r.ex.Timeout)
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
