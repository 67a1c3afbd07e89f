// Owned memory: the Ops one owner of buffers on a device (a stage) allocates through, which note each buffer so that the owner hands them all back at once.

package device

import (
	"sync"

	"baton/kernels"
)

// Owned are Ops that note every buffer allocated through them, so that
// Free hands all of them back to their device: the memory of one stage,
// which a re-split drops whole. The notes cost nothing in steady state,
// which allocates nothing.
type Owned struct {
	kernels.Ops
	dev Device

	mu   sync.Mutex // a neighbour's worker may make a stage's stash
	bufs []kernels.Buffer
}

// Own makes Owned allocating through ops, which compute on dev.
func Own(dev Device, ops kernels.Ops) *Owned { return &Owned{Ops: ops, dev: dev} }

func (o *Owned) Alloc(n int) kernels.Buffer    { return o.note(o.Ops.Alloc(n)) }
func (o *Owned) AllocInt(n int) kernels.Buffer { return o.note(o.Ops.AllocInt(n)) }
func (o *Owned) AllocAs(n int, s kernels.Storage) kernels.Buffer {
	return o.note(o.Ops.AllocAs(n, s))
}

func (o *Owned) note(b kernels.Buffer) kernels.Buffer {
	o.mu.Lock()
	o.bufs = append(o.bufs, b)
	o.mu.Unlock()
	return b
}

// Free waits for the device's work, then hands back every buffer allocated
// through o, which nothing may use again.
func (o *Owned) Free() {
	o.dev.Sync()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, b := range o.bufs {
		o.dev.Free(b)
	}
	o.bufs = nil
}
