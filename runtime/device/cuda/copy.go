//go:build cuda

// Transfers between CUDA devices: the path each pair of devices takes, the copy itself on the copy stream, and its timing.

package cuda

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"sort"
	"unsafe"

	"gorgonia.org/cu"

	"baton/kernels"
	kcuda "baton/kernels/cuda"
	"baton/runtime/device"
)

// Paths a copy between two CUDA devices takes.
const (
	PathSameContext = "DtoD in one context"                        // cuMemcpyDtoDAsync
	PathContexts    = "peer copy between contexts of one GPU"      // cuMemcpyPeerAsync
	PathPeer        = "peer copy between GPUs (P2P)"               // cuMemcpyPeerAsync after cuCtxEnablePeerAccess
	PathStaged      = "staged through pinned host memory (no P2P)" // DtoH then HtoD
)

// route is how d copies into one peer.
type route struct {
	peer *Device
	path string
	// Staging of the PathStaged route: pinned host memory, and the event
	// after the last HtoD out of it (on the peer's copy stream), which the
	// next DtoH into it waits for.
	host     unsafe.Pointer
	hostSize int64
	lastOut  cu.Event
	// The peer's zeroing fence generations this route's streams have waited
	// for: d's copy stream, and the peer's copy stream when staged.
	seen, seenStaged uint64
}

// stageAll makes every copy between contexts go through pinned host memory,
// so that the tests can time and check that path on one GPU.
var stageAll bool

// pendingCopy is a copy whose timing events have not been read yet.
type pendingCopy struct {
	r          *route
	bytes      int64
	ready      cu.Event // d's compute stream: src is written
	t0, t1     cu.Event // d's copy stream, around the copy (around the DtoH when staged)
	h0, h1     cu.Event // the peer's copy stream, around the HtoD (staged only)
	peerEvents bool     // h0 and h1 belong to the peer's pool
}

// asCUDA is b as a buffer of kernels/cuda, or why it is not one.
func asCUDA(b kernels.Buffer) (kcuda.Buf, error) {
	cb, ok := b.(kcuda.Buf)
	if !ok {
		return cb, fmt.Errorf("buffer is %T, not a cuda.Buf", b)
	}
	return cb, nil
}

// route returns how d copies into p, deciding it on first use: one context →
// DtoD; two contexts of one GPU → peer copy; two GPUs with peer access →
// enable it once, then peer copies; else staged through pinned host memory.
// d's context is current; d.mu is held.
func (d *Device) route(p *Device) (*route, error) {
	if r, ok := d.routes[p]; ok {
		return r, nil
	}
	r := &route{peer: p}
	switch {
	case d.ctx == p.ctx:
		r.path = PathSameContext
	case stageAll:
		r.path = PathStaged
	case d.gpu.index == p.gpu.index:
		r.path = PathContexts
	default:
		can, err := canAccessPeer(d.gpu.dev, p.gpu.dev)
		if err != nil {
			return nil, err
		}
		r.path = PathStaged
		if can {
			if err := enablePeer(p.ctx); err != nil {
				return nil, fmt.Errorf("enabling peer access to %s: %w", p.name, err)
			}
			r.path = PathPeer
		}
	}
	d.routes[p] = r
	return r, nil
}

// CopyTo copies src (d's) into dst (peer's) on d's copy stream: the copy
// stream waits until the compute stream has written src, and the compute
// stream then waits for the copy, so that the next Record covers it and dst
// is whole by the time the peer waits on that event. Parameters under bf16
// (a rebalance moves them) carry their float32 masters, copied after them.
func (d *Device) CopyTo(peer device.Device, dst, src kernels.Buffer) {
	p, ok := peer.(*Device)
	if !ok {
		d.fail(fmt.Errorf("copy to %s: a CUDA device copies only to CUDA devices", peer.Name()))
	}
	db, err1 := asCUDA(dst)
	sb, err2 := asCUDA(src)
	if err := errors.Join(err1, err2); err != nil {
		d.fail(fmt.Errorf("copy to %s: %w", p.name, err))
	}
	dptr, n, sptr, m := db.Ptr, db.Bytes(), sb.Ptr, sb.Bytes()
	if n != m {
		d.fail(fmt.Errorf("copy to %s: source has %d bytes, destination %d", p.name, m, n))
	}
	dm, sm := db.Master, sb.Master
	if (dm == 0) != (sm == 0) {
		d.fail(fmt.Errorf("copy to %s: one buffer has a float32 master and the other none", p.name))
	}
	prev := d.enter()
	defer d.leave(prev)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.copyTo(p, dptr, sptr, n); err != nil {
		d.fail(fmt.Errorf("copy of %d bytes to %s: %w", n, p.name, err))
	}
	if dm != 0 {
		if err := d.copyTo(p, dm, sm, 4*int64(dst.Len())); err != nil {
			d.fail(fmt.Errorf("copy of %d float32 masters to %s: %w", dst.Len(), p.name, err))
		}
	}
}

// copyTo enqueues one copy and its timing events; d's context is current
// and d.mu is held.
func (d *Device) copyTo(p *Device, dst, src cu.DevicePtr, n int64) error {
	r, err := d.route(p)
	if err != nil {
		return err
	}
	c := pendingCopy{r: r, bytes: n}
	for _, e := range []*cu.Event{&c.ready, &c.t0, &c.t1} {
		if *e, err = d.events.get(); err != nil {
			return err
		}
	}
	d.pending = append(d.pending, c) // from here on Sync returns the events
	last := &d.pending[len(d.pending)-1]
	if err := check("cuEventRecord", c.ready.Record(d.compute)); err != nil {
		return err
	}
	if err := check("cuStreamWaitEvent", d.copy.Wait(c.ready, 0)); err != nil {
		return err
	}
	if r.path == PathStaged {
		return d.copyStaged(last, dst, src, n)
	}
	if err := p.ops.waitZeroing(d.copy, &r.seen); err != nil {
		return err
	}
	if err := check("cuEventRecord", c.t0.Record(d.copy)); err != nil {
		return err
	}
	if r.path == PathSameContext {
		err = check("cuMemcpyDtoDAsync", cu.MemcpyDtoDAsync(dst, src, n, d.copy))
	} else {
		err = check("cuMemcpyPeerAsync", cu.MemcpyPeerAsync(dst, p.ctx, src, d.ctx, n, d.copy))
	}
	if err != nil {
		return err
	}
	if err := check("cuEventRecord", c.t1.Record(d.copy)); err != nil {
		return err
	}
	return check("cuStreamWaitEvent", d.compute.Wait(c.t1, 0))
}

// copyStaged copies through pinned host memory: DtoH on d's copy stream,
// then HtoD on the peer's copy stream in the peer's context, which waits for
// the DtoH; d's compute stream waits for the HtoD.
func (d *Device) copyStaged(c *pendingCopy, dst, src cu.DevicePtr, n int64) error {
	r, p := c.r, c.r.peer
	if err := d.growStaging(r, n); err != nil {
		return err
	}
	if r.lastOut != (cu.Event{}) { // the previous HtoD has read the staging buffer
		if err := check("cuStreamWaitEvent", d.copy.Wait(r.lastOut, 0)); err != nil {
			return err
		}
	}
	if err := check("cuEventRecord", c.t0.Record(d.copy)); err != nil {
		return err
	}
	if err := check("cuMemcpyDtoHAsync", cu.MemcpyDtoHAsync(r.host, src, n, d.copy)); err != nil {
		return err
	}
	if err := check("cuEventRecord", c.t1.Record(d.copy)); err != nil {
		return err
	}
	// The peer's half, in the peer's context on this thread.
	if err := setCurrent(p.ctx); err != nil {
		return err
	}
	defer setCurrent(d.ctx)
	var err error
	if c.h0, err = p.events.get(); err != nil {
		return err
	}
	if c.h1, err = p.events.get(); err != nil {
		p.events.put(c.h0)
		c.h0 = cu.Event{}
		return err
	}
	c.peerEvents = true
	if err := check("cuStreamWaitEvent", p.copy.Wait(c.t1, 0)); err != nil {
		return err
	}
	if err := p.ops.waitZeroing(p.copy, &r.seenStaged); err != nil {
		return err
	}
	if err := check("cuEventRecord", c.h0.Record(p.copy)); err != nil {
		return err
	}
	if err := check("cuMemcpyHtoDAsync", cu.MemcpyHtoDAsync(dst, r.host, n, p.copy)); err != nil {
		return err
	}
	if err := check("cuEventRecord", c.h1.Record(p.copy)); err != nil {
		return err
	}
	r.lastOut = c.h1
	return check("cuStreamWaitEvent", d.compute.Wait(c.h1, 0))
}

// growStaging makes r's staging buffer hold n bytes, once nothing may still
// read the old one.
func (d *Device) growStaging(r *route, n int64) error {
	if r.hostSize >= n {
		return nil
	}
	if r.host != nil {
		if err := check("cuStreamSynchronize", d.copy.Synchronize()); err != nil {
			return err
		}
		if r.lastOut != (cu.Event{}) {
			if err := check("cuEventSynchronize", r.lastOut.Synchronize()); err != nil {
				return err
			}
		}
		if err := check("cuMemFreeHost", cu.MemFreeHost(r.host)); err != nil {
			return err
		}
		r.host, r.hostSize = nil, 0
	}
	h, err := hostAlloc(n)
	if err != nil {
		return err
	}
	r.host, r.hostSize = h, n
	return nil
}

// settleCopies reads the timings of the copies since the last Sync into the
// statistics and returns their events to the pools. The streams are drained
// (d's compute stream waited for every copy, the staged ones' HtoD included)
// and d's context is current.
func (d *Device) settleCopies() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var first error
	for i := range d.pending {
		c := &d.pending[i]
		if first == nil && c.t0 != (cu.Event{}) && c.t1 != (cu.Event{}) {
			if secs, err := d.copyTime(c); err != nil {
				first = err
			} else {
				d.count(c.r, c.bytes, secs)
			}
		}
		for _, e := range []cu.Event{c.ready, c.t0, c.t1} {
			if e != (cu.Event{}) {
				d.events.put(e)
			}
		}
		if c.peerEvents {
			for _, e := range []cu.Event{c.h0, c.h1} {
				if e != (cu.Event{}) {
					c.r.peer.events.put(e)
				}
			}
		}
	}
	for _, r := range d.routes {
		r.lastOut = cu.Event{} // complete: the compute stream waited for it
	}
	d.pending = d.pending[:0]
	goruntime.KeepAlive(d)
	return first
}

// copyTime is the seconds a completed copy took on the copy streams: the
// DtoH and the HtoD, timed by the peer's events in the peer's context, when
// staged. d's context is current.
func (d *Device) copyTime(c *pendingCopy) (float64, error) {
	ms, err := c.t0.Elapsed(c.t1)
	if err != nil {
		return 0, check("cuEventElapsedTime", err)
	}
	if c.h0 != (cu.Event{}) && c.h1 != (cu.Event{}) {
		if err := setCurrent(c.r.peer.ctx); err != nil {
			return 0, err
		}
		hms, err := c.h0.Elapsed(c.h1)
		if err := errors.Join(check("cuEventElapsedTime", err), setCurrent(d.ctx)); err != nil {
			return 0, err
		}
		ms += hms
	}
	return ms / 1e3, nil
}

// count adds one copy to the statistics of its route.
func (d *Device) count(r *route, bytes int64, seconds float64) {
	s, ok := d.stats[r.peer.name]
	if !ok {
		s = &device.TransferStat{From: d.name, To: r.peer.name, Path: r.path}
		d.stats[r.peer.name] = s
	}
	s.Copies++
	s.Bytes += bytes
	s.Seconds += seconds
}

// Transfers are the device's copies into each peer since it was opened, as
// of its last Sync: path, bytes and time on the copy stream.
func (d *Device) Transfers() []device.TransferStat {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]device.TransferStat, 0, len(d.stats))
	for _, s := range d.stats {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].To < out[j].To })
	return out
}
