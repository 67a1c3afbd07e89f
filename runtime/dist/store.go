// The rendezvous store: a key-value store rank 0 serves at MASTER_ADDR:MASTER_PORT, where ranks leave what the others must learn before they connect.

package dist

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The store's protocol. A connection opens with storeMagic and
// storeVersion (6 bytes, little-endian), which the server echoes. Then
// requests, each answered before the next:
//
//	set: 'S', key length uint16, key, value length uint32, value -> '+'
//	get: 'G', key length uint16, key, wait int64 (ns) -> '+', value length uint32, value
//	                                                  or '-' when not set within wait
const (
	storeMagic   uint32 = 0x424e5453 // "STNB" little-endian
	storeVersion uint16 = 1

	opSet, opGet        = 'S', 'G'
	statusOK, statusNot = '+', '-'

	// maxValue bounds a value: far above what ranks exchange, far below
	// what a stray client's bytes would make the server allocate.
	maxValue = 64 << 20
	// maxWait bounds how long the server holds one get.
	maxWait = time.Second
	// getSlice is how long a Get waits on the server at a time: the most it
	// is late to notice its context cancelled.
	getSlice = 250 * time.Millisecond
	// storeIOTimeout is how long an answer may take beyond its wait before
	// the client takes the server for gone: a host that vanished sends no
	// reset.
	storeIOTimeout = 10 * time.Second
)

// Store is a client of the store: one connection, used by one call at a
// time (a Get that waits lets others in between its waits on the server).
// Once its connection is lost every call fails.
type Store struct {
	addr string

	mu     sync.Mutex
	conn   net.Conn
	r      *bufio.Reader
	w      *bufio.Writer
	err    error       // why the connection is no longer usable
	closed atomic.Bool // Close was called: calls fail saying so
}

// errWrongStore is an answer no retry will change: not a baton store, or
// another version of one.
var errWrongStore = errors.New("not this baton's store")

// DialStore connects to the store at addr, trying again with a short
// backoff until ctx ends: rank 0, which serves it, may start after the
// other ranks.
func DialStore(ctx context.Context, addr string) (*Store, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil { // no retry mends it
		return nil, fmt.Errorf("dist: rank 0's address %q: %w", addr, err)
	}
	start := time.Now()
	var last error
	for backoff := 20 * time.Millisecond; ; backoff = min(2*backoff, 500*time.Millisecond) {
		st, err := dialStore(ctx, addr)
		if err == nil {
			return st, nil
		}
		if errors.Is(err, errWrongStore) {
			return nil, err
		}
		if last == nil || ctx.Err() == nil {
			last = err // the error of a try that ctx did not cut short says more
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			// Rank 0 dials its own store too: the message must read right on it.
			return nil, fmt.Errorf("dist: the rendezvous at %s, which rank 0 serves, did not answer in %v (%v): %w",
				addr, time.Since(start).Round(time.Millisecond), last, ctx.Err())
		case <-t.C:
		}
	}
}

// dialStore is one try of DialStore: the connection and the hello.
func dialStore(ctx context.Context, addr string) (*Store, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(storeIOTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	var hi [6]byte
	putStoreHello(hi[:])
	_, err = conn.Write(hi[:])
	if err == nil {
		_, err = io.ReadFull(conn, hi[:])
	}
	stop()
	conn.SetDeadline(time.Time{})
	switch {
	case err == nil && ctx.Err() != nil:
		err = ctx.Err()
	case err != nil:
	case binary.LittleEndian.Uint32(hi[:]) != storeMagic:
		err = fmt.Errorf("dist: %s is %w (it answered %q): MASTER_ADDR:MASTER_PORT must be where rank 0 serves the store", addr, errWrongStore, hi[:])
	case binary.LittleEndian.Uint16(hi[4:]) != storeVersion:
		err = fmt.Errorf("dist: the store at %s speaks protocol %d, this rank %d (%w): start every rank from the same build",
			addr, binary.LittleEndian.Uint16(hi[4:]), storeVersion, errWrongStore)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &Store{addr: addr, conn: conn, r: bufio.NewReader(conn), w: bufio.NewWriter(conn)}, nil
}

// Set sets key to value (a few MiB at most: maxValue), replacing any value
// it had.
func (s *Store) Set(key string, value []byte) error {
	if len(key) > math.MaxUint16 || len(value) > maxValue {
		return fmt.Errorf("dist: store key of %d bytes or value of %d bytes is too long (at most %d and %d)", len(key), len(value), math.MaxUint16, maxValue)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.conn.SetDeadline(time.Now().Add(storeIOTimeout))
	s.request(opSet, key)
	s.w.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(value))))
	s.w.Write(value)
	if err := s.w.Flush(); err != nil {
		return s.lost(err)
	}
	status, err := s.r.ReadByte()
	if err != nil {
		return s.lost(err)
	}
	if status != statusOK {
		return s.lost(fmt.Errorf("answer %q to a set", status))
	}
	return nil
}

// Get waits until key is set, and returns its value, or fails when ctx
// ends first, naming the key and how long it waited.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	v, _, err := s.GetOr(ctx, key, "")
	return v, err
}

// GetOr is Get watching a second key, or ("" for none): once or is set it
// returns or's value, and true, rather than wait on for key, so that a
// wait for something that will not come ends as soon as another client
// says why. or is looked at between waits on the server, getSlice apart.
func (s *Store) GetOr(ctx context.Context, key, or string) ([]byte, bool, error) {
	if len(key) > math.MaxUint16 || len(or) > math.MaxUint16 {
		return nil, false, fmt.Errorf("dist: store key of %d bytes is too long (at most %d)", max(len(key), len(or)), math.MaxUint16)
	}
	start := time.Now()
	for {
		wait := getSlice
		if d, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(d))
		}
		if err := ctx.Err(); err != nil || wait < 0 {
			if err == nil {
				err = context.DeadlineExceeded
			}
			return nil, false, fmt.Errorf("dist: store key %q was not set after waiting %v: %w", key, time.Since(start).Round(time.Millisecond), err)
		}
		if or != "" {
			if v, ok, err := s.get(ctx, or, 0); err != nil || ok {
				return v, ok, err
			}
		}
		v, ok, err := s.get(ctx, key, wait)
		if err != nil || ok {
			return v, false, err
		}
	}
}

// Lookup is key's value and true where it is set now, without waiting.
func (s *Store) Lookup(key string) ([]byte, bool, error) {
	if len(key) > math.MaxUint16 {
		return nil, false, fmt.Errorf("dist: store key of %d bytes is too long (at most %d)", len(key), math.MaxUint16)
	}
	return s.get(context.Background(), key, 0)
}

// get is one get request: key's value, or false when it was not set
// within wait. A server that stops answering holds it until ctx ends (and
// a second more, for an answer on its way), not storeIOTimeout: the
// connection is then lost, a request being half answered.
func (s *Store) get(ctx context.Context, key string, wait time.Duration) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, false, s.err
	}
	deadline := time.Now().Add(wait + storeIOTimeout)
	if d, ok := ctx.Deadline(); ok {
		deadline = minTime(deadline, d.Add(time.Second))
	}
	s.conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() {
		if ctx.Err() == context.Canceled {
			s.conn.SetDeadline(time.Unix(1, 0))
		}
	})
	defer stop()
	s.request(opGet, key)
	s.w.Write(binary.LittleEndian.AppendUint64(nil, uint64(wait)))
	if err := s.w.Flush(); err != nil {
		return nil, false, s.lost(err)
	}
	status, err := s.r.ReadByte()
	if err != nil {
		return nil, false, s.lost(err)
	}
	switch status {
	case statusNot:
		return nil, false, nil
	case statusOK:
	default:
		return nil, false, s.lost(fmt.Errorf("answer %q to a get", status))
	}
	var n [4]byte
	if _, err := io.ReadFull(s.r, n[:]); err != nil {
		return nil, false, s.lost(err)
	}
	size := binary.LittleEndian.Uint32(n[:])
	if size > maxValue {
		return nil, false, s.lost(fmt.Errorf("a value of %d bytes", size))
	}
	v := make([]byte, size)
	if _, err := io.ReadFull(s.r, v); err != nil {
		return nil, false, s.lost(err)
	}
	return v, true, nil
}

// request starts a request: its op and key.
func (s *Store) request(op byte, key string) {
	s.w.WriteByte(op)
	s.w.Write(binary.LittleEndian.AppendUint16(nil, uint16(len(key))))
	s.w.WriteString(key)
}

// lost marks the connection unusable (a request may be half answered).
func (s *Store) lost(err error) error {
	s.err = fmt.Errorf("dist: store at %s: connection lost: %w", s.addr, err)
	if s.closed.Load() {
		s.err = s.closedErr()
	}
	s.conn.Close()
	return s.err
}

func (s *Store) closedErr() error { return fmt.Errorf("dist: store at %s: closed", s.addr) }

// minTime is the earlier of a and b.
func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// localHost is the host this client's connection came from: an address
// the store's host, and so the other ranks, can reach this one at.
func (s *Store) localHost() string {
	host, _, err := net.SplitHostPort(s.conn.LocalAddr().String())
	if err != nil {
		return s.conn.LocalAddr().String()
	}
	return host
}

// Close closes the connection; later calls fail, and so at once does a
// call in flight (Close does not wait for it: it may wait on a server that
// stopped answering).
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if err := s.conn.Close(); !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}
