// The mesh: one TCP connection between every two ranks, framed messages over them, and the first failure, which breaks it.

package dist

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// byeTimeout is how long a rank that says bye waits for the peer to close
// its end: long enough for a peer that reads, short enough that Close is
// quick when a peer is stuck.
const byeTimeout = 500 * time.Millisecond

// ErrClosed is the mesh's error after Close.
var ErrClosed = errors.New("dist: mesh closed")

// PeerError is why the mesh broke: which rank's connection failed, at
// which host, and how.
type PeerError struct {
	Rank int
	Host string
	Err  error
}

func (e *PeerError) Error() string { return fmt.Sprintf("rank %d (%s): %v", e.Rank, e.Host, e.Err) }

func (e *PeerError) Unwrap() error { return e.Err }

// Mesh connects this rank to every other by one TCP connection carrying
// framed messages. A failure breaks the whole mesh: a run that lost a rank
// cannot go on, and every waiting receive should learn so at once (Broken)
// and why (Err). The mesh breaks at once when a connection ends without a
// bye (the peer's process died), carries a bad frame, or a send makes no
// progress, when a peer's bye says its own mesh broke (naming where the
// failure began), and when its user takes a peer for hung (Silent). A
// peer's Close is orderly: everything it sent arrives, then its bye; this
// mesh breaks only if it still waits for something from that peer (an
// Inbox, a clock answer) or sends to it.
type Mesh struct {
	// SendTimeout is how long a Send may make no progress (the peer takes
	// no chunk of its payload) before it fails the mesh: a peer that stopped
	// reading. 0 waits forever. Set it before the first Send.
	SendTimeout time.Duration
	// Describe words a message's tag in errors, as its user knows it ("the
	// activations of stage 1, micro-batch 3, step 72"); nil: Tag.String.
	// Set it before the first Send.
	Describe func(Tag) string

	rank, world int
	host        string  // this rank's published host
	peers       []*peer // by rank; nil at this rank

	mu     sync.Mutex
	inbox  map[inboxKey]chan []byte // a message waiting for Inbox (full), or Inbox waiting for a message (empty)
	pongs  map[uint64]chan int64    // clock pings waiting for their answer, by sequence number
	seq    uint64
	err    error
	broken chan struct{}

	wg sync.WaitGroup // the readers, the clock's answers and the byes
}

// peer is the connection to one other rank.
type peer struct {
	rank int
	host string
	conn net.Conn
	wmu  sync.Mutex    // one frame at a time
	gone chan struct{} // closed (under Mesh.mu) when the peer said bye on Close
	done chan struct{} // closed when the reader has ended
}

type inboxKey struct {
	from int
	tag  Tag
}

// addrKey is the store key under which a rank publishes its address.
func addrKey(rank int) string { return "mesh/" + strconv.Itoa(rank) }

// Connect joins rank of world to the others through st: it listens on
// host:0 (host "" for all interfaces, and then the host others dial is the
// one this rank's store connection came from), publishes that address,
// dials every lower rank and accepts every higher one. Each connection
// opens with a hello both ways (rank, world, protocol version); a mismatch
// is refused on both sides with an error naming both. Connect returns when
// this rank is connected to all others, or fails when ctx ends first.
func Connect(ctx context.Context, st *Store, rank, world int, host string) (*Mesh, error) {
	if world < 1 || rank < 0 || rank >= world {
		return nil, fmt.Errorf("dist: rank %d is not in a world of %d: RANK must be 0 to WORLD_SIZE-1", rank, world)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("dist: rank %d: listening on %q: %w", rank, host, err)
	}
	defer ln.Close()
	if host == "" {
		host = st.localHost()
	}
	addr := net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	m := &Mesh{
		rank: rank, world: world, host: host,
		peers:  make([]*peer, world),
		inbox:  make(map[inboxKey]chan []byte),
		pongs:  make(map[uint64]chan int64),
		broken: make(chan struct{}),
	}
	if err := st.Set(addrKey(rank), []byte(addr)); err != nil {
		return nil, fmt.Errorf("dist: rank %d: publishing its address: %w", rank, err)
	}
	me := hello{version: protocolVersion, rank: rank, world: world, addr: addr}
	if err := m.link(ctx, st, ln.(*net.TCPListener), me); err != nil {
		for _, p := range m.peers {
			if p != nil {
				p.conn.Close()
			}
		}
		return nil, err
	}
	for _, p := range m.peers {
		if p != nil {
			m.wg.Add(1)
			go m.read(p)
		}
	}
	return m, nil
}

// link connects to every other rank, dialing and accepting at once; the
// first failure stops both.
func (m *Mesh) link(parent context.Context, st *Store, ln *net.TCPListener, me hello) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
			cancel()
		}
		mu.Unlock()
	}
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		if err := m.acceptHigher(ctx, ln, me); err != nil {
			fail(err)
		}
	}()
	if err := m.dialLower(ctx, st, me); err != nil {
		fail(err)
	}
	<-accepted
	if first == nil && parent.Err() != nil {
		// Connected, but ctx ended while deadlines were tied to it.
		return fmt.Errorf("dist: rank %d: connecting: %w", m.rank, parent.Err())
	}
	return first
}

func (m *Mesh) dialLower(ctx context.Context, st *Store, me hello) error {
	var d net.Dialer
	for r := range m.rank {
		v, err := st.Get(ctx, addrKey(r))
		if err != nil {
			return fmt.Errorf("dist: rank %d: rank %d did not publish its address: %w", m.rank, r, err)
		}
		conn, err := d.DialContext(ctx, "tcp", string(v))
		if err != nil {
			return fmt.Errorf("dist: rank %d: dialing rank %d at %s: %w", m.rank, r, v, err)
		}
		p, err := m.handshake(ctx, conn, me, r)
		if err != nil {
			conn.Close()
			return err
		}
		m.peers[r] = p
	}
	return nil
}

func (m *Mesh) acceptHigher(ctx context.Context, ln *net.TCPListener, me hello) error {
	for range m.world - 1 - m.rank {
		stop := bound(ctx, ln)
		conn, err := ln.Accept()
		stop()
		if err != nil {
			return fmt.Errorf("dist: rank %d: waiting for ranks %v to connect: %w", m.rank, m.unconnected(), ctxErr(ctx, err))
		}
		p, err := m.handshake(ctx, conn, me, -1)
		if err == nil && m.peers[p.rank] != nil {
			err = fmt.Errorf("dist: rank %d: two processes say they are rank %d (at %s and %s): check RANK on each host",
				m.rank, p.rank, m.peers[p.rank].conn.RemoteAddr(), conn.RemoteAddr())
		}
		if err != nil {
			conn.Close()
			return err
		}
		m.peers[p.rank] = p
	}
	return nil
}

// unconnected lists the higher ranks not yet connected.
func (m *Mesh) unconnected() []int {
	var rs []int
	for r := m.rank + 1; r < m.world; r++ {
		if m.peers[r] == nil {
			rs = append(rs, r)
		}
	}
	return rs
}

// bound ties c's deadline to ctx until stop is called: ctx's deadline, and
// at once when ctx is cancelled.
func bound(ctx context.Context, c interface{ SetDeadline(time.Time) error }) (stop func()) {
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	after := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	return func() {
		after()
		c.SetDeadline(time.Time{})
	}
}

// ctxErr is ctx's error when err is due to it: a timeout of a deadline
// that bound tied to ctx (which may pass a moment before ctx says so), or
// any error once ctx ended.
func ctxErr(ctx context.Context, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		<-ctx.Done()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Rank is this process's rank.
func (m *Mesh) Rank() int { return m.rank }

// World is the number of ranks.
func (m *Mesh) World() int { return m.world }

// Host is where rank runs, as it published it (for messages); "" for a
// rank outside the world.
func (m *Mesh) Host(rank int) string {
	switch {
	case rank == m.rank:
		return m.host
	case rank < 0 || rank >= m.world:
		return ""
	}
	return m.peers[rank].host
}

func (p *peer) errorf(format string, a ...any) error {
	return &PeerError{Rank: p.rank, Host: p.host, Err: fmt.Errorf(format, a...)}
}

// lost is the error of a connection that failed under a read.
func (p *peer) lost(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return p.errorf("connection lost in the middle of a frame: %w", err)
	}
	return p.errorf("connection lost: %w", err)
}

// Broken is closed when the mesh breaks (see Mesh): a peer died, broke,
// or closed while awaited; a bad frame; a send that made no progress; or
// Close.
func (m *Mesh) Broken() <-chan struct{} { return m.broken }

// Err is why the mesh broke, nil while it works: a *PeerError naming the
// rank, its host and what happened, or ErrClosed.
func (m *Mesh) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// leave takes p's bye on its Close. Everything p sent before it has been
// delivered (the stream is in order), so the mesh breaks only if this rank
// waits for more from p; then it closes this end, which p waits for. Of
// several messages awaited it names the earliest (by step, then kind,
// stage and micro-batch), not the first the map happens to yield: the
// same waits always read the same.
func (m *Mesh) leave(p *peer) {
	m.mu.Lock()
	close(p.gone)
	var awaited []Tag
	for k, ch := range m.inbox {
		if k.from == p.rank && len(ch) == 0 {
			awaited = append(awaited, k.tag)
		}
	}
	m.mu.Unlock()
	if len(awaited) > 0 {
		first := slices.MinFunc(awaited, func(a, b Tag) int {
			return cmp.Or(cmp.Compare(a.Step, b.Step), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Stage, b.Stage), cmp.Compare(a.Microbatch, b.Microbatch))
		})
		m.fail(p.errorf("left the run while this rank waited for %s", m.describe(first)))
	}
	p.conn.Close()
}

// Silent breaks the mesh because rank sent nothing for d while this rank
// waited for tag: a hang, which began there. Err, and the bye each peer
// gets, name rank, so that the peers name it too, not this rank, whose
// leaving is what they would see first.
func (m *Mesh) Silent(rank int, tag Tag, d time.Duration) {
	if rank < 0 || rank >= m.world || rank == m.rank {
		panic(fmt.Sprintf("dist: rank %d cannot take rank %d of a world of %d for silent", m.rank, rank, m.world))
	}
	m.fail(m.peers[rank].errorf("sent nothing for %v while rank %d waited for %s", d, m.rank, m.describe(tag)))
}

// fail breaks the mesh with err unless it is broken already, and ends
// every connection: each peer gets a bye that says why (so that every rank
// names the failure where it began, whichever connection it sees fail
// first), and the connection closes once the peer has closed its end or
// byeTimeout passed.
func (m *Mesh) fail(err error) {
	m.mu.Lock()
	if m.err != nil {
		m.mu.Unlock()
		return
	}
	m.err = err
	close(m.broken)
	// The byes' goroutines count before the lock is let go: a Close that
	// finds the mesh broken must find them in its Wait.
	for _, p := range m.peers {
		if p != nil {
			m.wg.Add(1)
		}
	}
	m.mu.Unlock()
	reason := ""
	if err != ErrClosed {
		reason = err.Error()
		if len(reason) > maxBye {
			// Cut at a character's start: the peer prints the reason.
			n := maxBye
			for n > 0 && !utf8.RuneStart(reason[n]) {
				n--
			}
			reason = reason[:n]
		}
	}
	for _, p := range m.peers {
		if p != nil {
			go func() {
				defer m.wg.Done()
				if m.sayBye(p, reason) {
					t := time.NewTimer(byeTimeout)
					select {
					case <-p.done:
					case <-t.C:
					}
					t.Stop()
				}
				p.conn.Close()
			}()
		}
	}
}

// sayBye writes p a bye with reason ("" for Close) and closes this end for
// writing; false when it could not. It waits for a frame being written to
// end, but not longer than byeTimeout: a send that makes no progress
// holds the connection, and closing it ends that send.
func (m *Mesh) sayBye(p *peer, reason string) bool {
	stuck := time.AfterFunc(byeTimeout, func() { p.conn.Close() })
	p.wmu.Lock()
	stuck.Stop()
	defer p.wmu.Unlock()
	var h [headerSize]byte
	putHeader(&h, frameBye, Tag{}, []byte(reason))
	p.conn.SetWriteDeadline(time.Now().Add(byeTimeout))
	bufs := net.Buffers{h[:], []byte(reason)}
	if _, err := bufs.WriteTo(p.conn); err != nil {
		return false
	}
	if c, ok := p.conn.(interface{ CloseWrite() error }); ok {
		c.CloseWrite()
	}
	return true
}

// Close says bye to every peer, closes every connection and returns when
// the mesh's goroutines have ended (within byeTimeout of a stuck peer).
func (m *Mesh) Close() error {
	m.fail(ErrClosed)
	m.wg.Wait()
	return nil
}
