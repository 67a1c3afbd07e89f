// The stash pool of a stage: which micro-batch holds which of the stage's stashes, shared by its own worker and its neighbour's.

package runtime

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"baton/runtime/device"
	"baton/transformer"
)

// stash is one of a stage's stashes and whom it serves.
type stash struct {
	acts  *transformer.Acts
	mb    int            // the micro-batch it holds
	done  bool           // released: reusable, but its buffers stay readable until taken again
	fence device.Event   // the release's mark of the last use, for whoever takes it next
	sends []device.Event // the ends of its buffers' sends over links to other processes, not yet waited for
}

// stashPool lends a stage's stashes to micro-batches. The previous stage's
// worker takes a stash when it sends an activation (input), on its own
// goroutine; the stage's worker runs the micro-batch on it and releases it
// (release) when the schedule's rules say (schedule.StashRules). The
// executor reserves, before a step, the most stashes its schedule can make
// the stage hold (schedule.StashBound), because a stash must be allocated
// on the stage's own device, which is not safe from the neighbour's
// goroutine on every device (a CUDA green context may be current on one
// thread only): input never allocates past the reservation but waits for a
// release.
type stashPool struct {
	stack *transformer.Stack

	mu     sync.Mutex
	freed  sync.Cond      // on mu: a stash was released
	sets   map[int]*stash // micro-batch → its stash
	free   []*stash       // released stashes
	made   int
	limit  int  // reserve's count: input waits for a release rather than allocate past it (0: no limit)
	waits  int  // times input waited for a release
	broken bool // interrupt: a waiting input gives up
}

func newStashPool(stack *transformer.Stack) *stashPool {
	p := &stashPool{stack: stack, sets: map[int]*stash{}}
	p.freed.L = &p.mu
	return p
}

// errInterrupted is what an input waiting for a stash panics with once
// interrupt is called: the step it serves has failed elsewhere.
var errInterrupted = errors.New("interrupted while waiting for a stash")

// reserve allocates stashes until the pool has n, and makes n the most that
// input takes. It runs on a goroutine that may use the stage's device.
func (p *stashPool) reserve(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.made < n {
		p.free = append(p.free, &stash{acts: p.stack.NewActs(), mb: -1, done: true})
		p.made++
	}
	p.limit = max(p.limit, n)
}

// interrupt makes an input that waits for a stash, or will, give up.
func (p *stashPool) interrupt() {
	p.mu.Lock()
	p.broken = true
	p.freed.Broadcast()
	p.mu.Unlock()
}

// reclaim hands back every stash and clears an interrupt, for a new step
// once no work of the last one remains (the devices have drained): a failed
// step may have left stashes taken.
func (p *stashPool) reclaim() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.broken = false
	for _, s := range p.sets {
		if !s.done {
			s.done, s.fence = true, nil
			p.free = append(p.free, s)
		}
	}
}

// count is how many stashes the pool has made.
func (p *stashPool) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.made
}

// waited is how many times input waited for a release because every
// reserved stash was taken: never in training when reserve was sized by
// StashBound; in evaluation, whose sends are not held back by backwards, it
// is how the sender is kept from running ahead.
func (p *stashPool) waited() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waits
}

// input takes a stash for micro-batch mb on behalf of the previous stage,
// waiting for a release when every reserved stash is taken, and returns it
// with the fence of its previous use (nil for a fresh one): the copy into
// it must wait for the fence, since the stage's device may still be reading
// the stash when the host moves on. The fence is the caller's from then on,
// to hand back to the stage's device once waited for (Stage.release).
func (p *stashPool) input(mb int) (*transformer.Acts, device.Event) {
	return p.acquire(mb, true)
}

// own is micro-batch mb's stash for the stage's own worker, taken now if
// mb has none (the first stage's forward): the worker's own stream orders
// its use after the stash's last one, so no fence is needed, and the fence
// of its last use is returned only to be handed back to the device.
func (p *stashPool) own(mb int) (*transformer.Acts, device.Event) {
	return p.acquire(mb, false)
}

func (p *stashPool) acquire(mb int, forPeer bool) (*transformer.Acts, device.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.sets[mb]; ok {
		var fence device.Event
		if s.done {
			p.free = slices.DeleteFunc(p.free, func(f *stash) bool { return f == s })
			s.done, fence, s.fence = false, s.fence, nil
		}
		return s.acts, fence
	}
	if forPeer && len(p.free) == 0 && p.limit > 0 && p.made >= p.limit {
		p.waits++
		for len(p.free) == 0 {
			if p.broken {
				panic(errInterrupted)
			}
			p.freed.Wait()
		}
	}
	var s *stash
	var fence device.Event
	if n := len(p.free); n > 0 {
		s, p.free = p.free[n-1], p.free[:n-1]
		if p.sets[s.mb] == s {
			delete(p.sets, s.mb)
		}
		s.done, fence, s.fence = false, s.fence, nil
	} else {
		s = &stash{acts: p.stack.NewActs()}
		p.made++
	}
	s.mb = mb
	p.sets[mb] = s
	return s.acts, fence
}

// get is micro-batch mb's stash, which must be taken.
func (p *stashPool) get(mb int, what string) *transformer.Acts {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.sets[mb]
	if !ok {
		panic(fmt.Sprintf("%s of micro-batch %d, which has no stash on this stage", what, mb))
	}
	return s.acts
}

// sent records that a send over a link reads micro-batch mb's stash until
// ev: whoever takes the stash for another micro-batch waits for it first
// (waitSends), since a link's send runs on a stream of its own.
func (p *stashPool) sent(mb int, ev device.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.sets[mb]; ok {
		s.sends = append(s.sends, ev)
	}
}

// takeSends returns the sends still reading micro-batch mb's stash from its
// previous micro-batch, once, for its new user to wait for.
func (p *stashPool) takeSends(mb int) []device.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.sets[mb]
	if !ok {
		return nil
	}
	out := s.sends
	s.sends = nil
	return out
}

// release makes micro-batch mb's stash reusable. fence marks, on the
// stage's device, the end of the work that reads it.
func (p *stashPool) release(mb int, fence device.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.sets[mb]
	if !ok {
		panic(fmt.Sprintf("release of micro-batch %d, which has no stash on this stage", mb))
	}
	s.done, s.fence = true, fence
	p.free = append(p.free, s)
	p.freed.Broadcast()
}
