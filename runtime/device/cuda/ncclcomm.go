//go:build cuda

// NCCL communicators on a CUDA device: sends and receives between ranks on streams of their own, ordered against the device's compute stream.

package cuda

import (
	"cmp"
	"errors"
	"fmt"
	goruntime "runtime"
	"strings"
	"sync"
	"unsafe"

	"gorgonia.org/cu"

	"baton/kernels"
	kcuda "baton/kernels/cuda"
	"baton/runtime/device"
)

// Comm is one NCCL communicator as one rank holds it, on a CUDA device.
//
// Use one Comm per direction of each pair of neighbouring ranks (a world of
// two: the forward one carries stage k's activations to k+1, the backward
// one k+1's gradients to k), not one for all ranks. NCCL runs the
// operations of one communicator one at a time in posting order, whatever
// their streams, and a send may wait until its receive has started; so on a
// single communicator two ranks that each post a send to the other and then
// a receive from it deadlock (1F1B does that in its steady state). A
// communicator per direction carries sends one way only: NCCL matches them
// with the peer's receives in posting order, and the runtime posts both in
// schedule order. Exchange is for the other case, a send and a receive with
// one peer on one communicator.
//
// Sends run on one stream of the Comm's own and receives on another, each
// after the compute stream's work so far (an event recorded there, waited on
// by the comm stream), so that a send reads what the kernels before it wrote
// and a receive overwrites nothing they still read. The compute stream
// waits for each receive, so that the kernels after Recv read its data, as
// it waits for CopyTo's copy; it does not wait for sends, which would tie
// this rank's kernels to the peer's progress and, with the waits before
// receives, close the cycle that separate communicators open: Send returns
// the event after the send instead, which the compute stream must Wait on
// before it overwrites the source. Methods may be called from any goroutine
// (the device's context is made current for the call); calls on one Comm
// are serialised. Close a Comm before its device.
type Comm struct {
	lib         *ncclLib
	dev         *Device
	comm        unsafe.Pointer
	world, rank int
	sendStream  cu.Stream
	recvStream  cu.Stream

	mu                 sync.Mutex // NCCL's calls on one communicator must not overlap
	sends, recvs       int        // operations posted so far, to name them
	lastSend, lastRecv string     // the latest of each, to name in an asynchronous error
	closed             bool

	timed     []timedSend         // sends whose events are not read yet, oldest first
	sent      device.TransferStat // the sends read: count, bytes, seconds on the send stream
	timingErr error               // the first failure to read a send's events, which Sent returns
}

// timedSend is one send's span on the send stream, between events of its
// own (the one Send returns is the caller's to release), and its bytes.
type timedSend struct {
	start, end cu.Event
	bytes      int64
}

// NewComm joins the communicator id names as rank of world, on dev's
// context, and makes the Comm's streams there. It returns once every rank
// has joined (ncclCommInitRank waits for them).
func NewComm(dev *Device, id NCCLID, world, rank int) (*Comm, error) {
	if world < 1 || rank < 0 || rank >= world {
		return nil, fmt.Errorf("NCCL: rank %d of a communicator of %d", rank, world)
	}
	l, err := loadNCCL()
	if err != nil {
		return nil, err
	}
	c := &Comm{lib: l, dev: dev, world: world, rank: rank}
	unbind, err := c.bind()
	if err != nil {
		return nil, err
	}
	defer unbind()
	if err := c.start(id); err != nil {
		c.destroyStreams()
		return nil, &DeviceError{Device: dev.name, Err: err}
	}
	return c, nil
}

// start makes the streams and joins the communicator; the device's context is current.
func (c *Comm) start(id NCCLID) error {
	var err error
	if c.sendStream, err = cu.MakeStream(cu.NonBlocking); err != nil {
		return fmt.Errorf("NCCL send stream: %w", check("cuStreamCreate", err))
	}
	if c.recvStream, err = cu.MakeStream(cu.NonBlocking); err != nil {
		return fmt.Errorf("NCCL receive stream: %w", check("cuStreamCreate", err))
	}
	c.comm, err = c.lib.initRank(id, c.world, c.rank)
	return err
}

// Rank is this rank's number in the communicator; World is how many it has.
func (c *Comm) Rank() int  { return c.rank }
func (c *Comm) World() int { return c.world }

// bind makes the device's context current on the calling goroutine's thread
// until the returned function restores the previous one. Unlike Device.enter
// it returns its error: Comm's methods return theirs.
func (c *Comm) bind() (func(), error) {
	goruntime.LockOSThread()
	prev := ctxCurrent()
	if prev != c.dev.ctx {
		if err := setCurrent(c.dev.ctx); err != nil {
			goruntime.UnlockOSThread()
			return nil, &DeviceError{Device: c.dev.name, Err: err}
		}
	}
	return func() {
		if prev != c.dev.ctx {
			cu.SetCurrentContext(prev)
		}
		goruntime.UnlockOSThread()
	}, nil
}

// Send sends src's float32s to rank peer, whose Recv of as many floats,
// posted in the same order on the same Comm, receives them. It returns the
// event after the send: src may be overwritten once the compute stream has
// waited on it (device.Device.Wait).
func (c *Comm) Send(src kernels.Buffer, peer int) (device.Event, error) {
	var done cu.Event
	err := c.do(func() error {
		t := timedSend{}
		var err error
		if t.start, err = c.dev.events.get(); err != nil {
			return err
		}
		if t.bytes, err = c.postOne(true, src, peer, t.start); err != nil {
			c.dev.events.put(t.start)
			return err
		}
		if done, err = c.dev.events.get(); err == nil {
			err = check("cuEventRecord", done.Record(c.sendStream))
		}
		if err != nil {
			c.dev.events.put(t.start)
			c.dev.events.put(done)
			return err
		}
		// The send is posted: its timing may fail (Sent says so), not it.
		if t.end, err = c.dev.events.get(); err == nil {
			if err = check("cuEventRecord", t.end.Record(c.sendStream)); err != nil {
				c.dev.events.put(t.end)
			}
		}
		if err != nil {
			c.dev.events.put(t.start)
			c.timingErr = cmp.Or(c.timingErr, err)
			return nil
		}
		c.timed = append(c.timed, t)
		if err := c.readSends(false); err != nil {
			c.timingErr = cmp.Or(c.timingErr, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c.dev.wrap(done), nil
}

// Recv receives into dst the float32s rank peer sends with Send; the
// compute stream waits for them.
func (c *Comm) Recv(dst kernels.Buffer, peer int) error {
	return c.do(func() error {
		if _, err := c.postOne(false, dst, peer, cu.Event{}); err != nil {
			return err
		}
		return c.lead(c.recvStream)
	})
}

// readSends adds the sends whose end has passed to c.sent, oldest first,
// and hands their events back; with wait, it waits for all of them. c.mu
// is held and the device's context current.
func (c *Comm) readSends(wait bool) error {
	for len(c.timed) > 0 {
		t := c.timed[0]
		if wait {
			if err := check("cuEventSynchronize", t.end.Synchronize()); err != nil {
				return err
			}
		} else if t.end.Query() != nil { // not yet (or an error, which the next wait says)
			return nil
		}
		ms, err := t.start.Elapsed(t.end)
		if err != nil {
			return check("cuEventElapsedTime", err)
		}
		c.sent.Copies++
		c.sent.Bytes += t.bytes
		c.sent.Seconds += ms / 1e3
		c.dev.events.put(t.start)
		c.dev.events.put(t.end)
		c.timed = c.timed[1:]
	}
	return nil
}

// Sent is what the Comm's sends carried so far and how long they took on
// its send stream, once each had run: NCCL's time for the transfer, and for
// the peer's receive to be posted where it came later.
func (c *Comm) Sent() (device.TransferStat, error) {
	unbind, err := c.bind()
	if err != nil {
		return device.TransferStat{}, err
	}
	defer unbind()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed && c.timingErr == nil {
		c.timingErr = c.readSends(true)
	}
	if c.timingErr != nil {
		return device.TransferStat{}, fmt.Errorf("timing the sends on %s: %w", c.dev.name, c.timingErr)
	}
	st := c.sent
	st.Path = "NCCL"
	return st, nil
}

// postOne posts a send of b to peer (send true) on the send stream, or a
// receive into b from peer on the receive stream, once that stream has
// followed the compute stream (and recorded start there, where given); it
// counts the call, names it for errors, and returns the bytes it moves.
func (c *Comm) postOne(send bool, b kernels.Buffer, peer int, start cu.Event) (int64, error) {
	verb, dir, stream, count, last := "ncclRecv", "from", c.recvStream, &c.recvs, &c.lastRecv
	if send {
		verb, dir, stream, count, last = "ncclSend", "to", c.sendStream, &c.sends, &c.lastSend
	}
	w, err := c.wireOf(b, peer)
	if err != nil {
		return 0, fmt.Errorf("%s %s rank %d: %w", verb, dir, peer, err)
	}
	*count++
	*last = fmt.Sprintf("%s #%d of %d floats %s rank %d", verb, *count, w.n, dir, peer)
	if err := c.follow(stream); err != nil {
		return 0, err
	}
	if start != (cu.Event{}) {
		if err := check("cuEventRecord", start.Record(stream)); err != nil {
			return 0, err
		}
	}
	bytes := w.n * 4
	if w.typ == ncclBfloat16 {
		bytes = w.n * 2
	}
	if err := c.lib.post(*last, send, w.ptr, w.n, w.typ, peer, c.comm, stream); err != nil {
		return 0, err
	}
	// A bf16 parameter (a rebalance moves it) carries its float32 master,
	// as CopyTo does: the peer's buffer has one too, the same model's.
	if w.master != 0 {
		*last += " and its float32 master"
		return bytes + w.n*4, c.lib.post(*last, send, w.master, w.n, ncclFloat32, peer, c.comm, stream)
	}
	return bytes, nil
}

// Exchange sends src to rank peer and receives dst from it at once, as one
// NCCL group on the send stream: the way one communicator carries both
// directions between two ranks without deadlock (the peer calls Exchange
// too). The compute stream waits for both, so src is free again after it.
func (c *Comm) Exchange(src, dst kernels.Buffer, peer int) error {
	return c.do(func() error {
		sw, err1 := c.wireOf(src, peer)
		dw, err2 := c.wireOf(dst, peer)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("exchange with rank %d: %w", peer, err)
		}
		if sw.master != 0 || dw.master != 0 {
			return fmt.Errorf("exchange with rank %d: a bf16 parameter with its master; Exchange carries gradients", peer)
		}
		c.sends++
		c.recvs++
		c.lastSend = fmt.Sprintf("ncclSend #%d of %d floats to rank %d (an exchange)", c.sends, sw.n, peer)
		c.lastRecv = fmt.Sprintf("ncclRecv #%d of %d floats from rank %d (an exchange)", c.recvs, dw.n, peer)
		if err := c.follow(c.sendStream); err != nil {
			return err
		}
		if err := c.lib.groupStart(); err != nil {
			return err
		}
		err := errors.Join(c.lib.post(c.lastSend, true, sw.ptr, sw.n, sw.typ, peer, c.comm, c.sendStream),
			c.lib.post(c.lastRecv, false, dw.ptr, dw.n, dw.typ, peer, c.comm, c.sendStream))
		if err := errors.Join(err, c.lib.groupEnd()); err != nil {
			return err
		}
		return c.lead(c.sendStream)
	})
}

// do runs post with the device's context current and the Comm locked,
// after checking that the Comm is open and NCCL has met no error.
func (c *Comm) do(post func() error) error {
	unbind, err := c.bind()
	if err != nil {
		return err
	}
	defer unbind()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("NCCL: rank %d of %d on %s: the communicator is closed", c.rank, c.world, c.dev.name)
	}
	if err := c.asyncError(); err != nil {
		return err
	}
	return post()
}

// wire is a buffer as NCCL moves it: its device address, element count and
// datatype (float32, or bfloat16 under bf16), and a bf16 parameter's
// float32 master (0: none).
type wire struct {
	ptr, master cu.DevicePtr
	n           int64
	typ         int
}

// wireOf is b as NCCL moves it to or from rank peer.
func (c *Comm) wireOf(b kernels.Buffer, peer int) (wire, error) {
	if peer < 0 || peer >= c.world {
		return wire{}, fmt.Errorf("rank %d is not one of the communicator's %d", peer, c.world)
	}
	cb, ok := b.(kcuda.Buf)
	if !ok {
		return wire{}, fmt.Errorf("buffer is %T, not a cuda.Buf", b)
	}
	w := wire{ptr: cb.Ptr, master: cb.Master, n: int64(cb.N), typ: ncclFloat32}
	switch {
	case cb.Int:
		return wire{}, errors.New("the buffer holds int32s; NCCL moves float buffers here")
	case cb.BF16:
		w.typ = ncclBfloat16
	}
	return w, nil
}

// follow makes s wait for the compute stream's work so far.
func (c *Comm) follow(s cu.Stream) error {
	ready, err := c.dev.events.get()
	if err != nil {
		return err
	}
	defer c.dev.events.put(ready) // the wait is enqueued: the event may be recorded again
	if err := check("cuEventRecord", ready.Record(c.dev.compute)); err != nil {
		return err
	}
	return check("cuStreamWaitEvent", s.Wait(ready, 0))
}

// lead makes the compute stream wait for s's work so far.
func (c *Comm) lead(s cu.Stream) error {
	done, err := c.dev.events.get()
	if err != nil {
		return err
	}
	defer c.dev.events.put(done)
	if err := check("cuEventRecord", done.Record(s)); err != nil {
		return err
	}
	return check("cuStreamWaitEvent", c.dev.compute.Wait(done, 0))
}

// Check returns the error NCCL met, since the operations were posted, while
// running them (a peer that exited, sizes that disagree), naming the
// communicator and its latest operations; nil if none.
func (c *Comm) Check() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	return c.asyncError()
}

// asyncError is Check with c.mu held.
func (c *Comm) asyncError() error {
	code, err := c.lib.asyncError(c.comm)
	if err != nil || code == 0 {
		return err
	}
	var ops []string
	for _, op := range []string{c.lastSend, c.lastRecv} {
		if op != "" {
			ops = append(ops, op)
		}
	}
	latest := "before any operation"
	if len(ops) > 0 {
		latest = "at or before " + strings.Join(ops, " and ")
	}
	return &NCCLError{Op: fmt.Sprintf("rank %d of %d on %s, %s", c.rank, c.world, c.dev.name, latest),
		Code: code, Msg: c.lib.errorText(code)}
}

// Sync waits until the Comm's sends and receives so far have completed,
// then returns Check's error.
func (c *Comm) Sync() error {
	unbind, err := c.bind()
	if err != nil {
		return err
	}
	defer unbind()
	if err := c.syncStreams(); err != nil {
		return err
	}
	return c.Check()
}

func (c *Comm) syncStreams() error {
	return errors.Join(check("cuStreamSynchronize", c.sendStream.Synchronize()),
		check("cuStreamSynchronize", c.recvStream.Synchronize()))
}

// Close waits for the Comm's operations and destroys the communicator and
// its streams; after an NCCL error it aborts the communicator instead (its
// operations end where they are) and returns the error. Closing twice is a
// no-op.
func (c *Comm) Close() error {
	unbind, err := c.bind()
	if err != nil {
		return err
	}
	defer unbind()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	err = c.asyncError()
	if err == nil {
		if err = c.syncStreams(); err == nil {
			err = errors.Join(c.asyncError(), c.readSends(true)) // the timing events go back to the device
		}
	}
	if err != nil {
		err = errors.Join(err, c.lib.abort(c.comm))
	} else {
		err = c.lib.destroy(c.comm)
	}
	c.comm = nil
	return errors.Join(err, c.destroyStreams())
}

// destroyStreams destroys the streams made; the device's context is current.
func (c *Comm) destroyStreams() error {
	var errs []error
	for _, s := range []*cu.Stream{&c.sendStream, &c.recvStream} {
		if *s != cu.NoStream {
			errs = append(errs, check("cuStreamDestroy", s.Destroy()))
			*s = cu.NoStream
		}
	}
	return errors.Join(errs...)
}
