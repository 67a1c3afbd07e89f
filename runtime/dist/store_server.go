// The rendezvous store's server: rank 0 keeps the keys and answers each connection's requests in turn, a get waiting until its key is set.

package dist

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// StoreServer serves the store to any number of clients.
type StoreServer struct {
	ln net.Listener

	mu      sync.Mutex
	kv      map[string][]byte
	changed chan struct{} // closed and replaced at every set: wakes the waiting gets
	conns   map[net.Conn]struct{}
	closed  bool
	done    chan struct{}

	wg sync.WaitGroup
}

// ServeStore listens at addr (host:port; ":port" for all interfaces) and
// serves the store until Close.
func ServeStore(addr string) (*StoreServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dist: serving the store at %s: %w", addr, err)
	}
	s := &StoreServer{
		ln:      ln,
		kv:      make(map[string][]byte),
		changed: make(chan struct{}),
		conns:   make(map[net.Conn]struct{}),
		done:    make(chan struct{}),
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the address the server listens at.
func (s *StoreServer) Addr() string { return s.ln.Addr().String() }

// Close stops the server, drops its clients, and returns when its
// goroutines have ended.
func (s *StoreServer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *StoreServer) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			case <-time.After(10 * time.Millisecond): // out of descriptors, say: try again
				continue
			}
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			return
		}
		s.conns[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(conn)
	}
}

// serve answers one client's requests until it leaves, errs or the server
// closes.
func (s *StoreServer) serve(conn net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		conn.Close()
	}()
	r, w := bufio.NewReader(conn), bufio.NewWriter(conn)
	var hi [6]byte
	if _, err := io.ReadFull(r, hi[:]); err != nil || binary.LittleEndian.Uint32(hi[:]) != storeMagic {
		return
	}
	peerVersion := binary.LittleEndian.Uint16(hi[4:])
	putStoreHello(hi[:])
	if _, err := conn.Write(hi[:]); err != nil || peerVersion != storeVersion {
		return
	}
	for {
		op, key, value, wait, err := readRequest(r)
		if err != nil {
			return
		}
		// Before any write: a value larger than w's buffer goes straight to
		// the connection, under whatever deadline it has. A get may wait
		// maxWait first.
		conn.SetWriteDeadline(time.Now().Add(maxWait + storeIOTimeout))
		switch op {
		case opSet:
			s.set(key, value)
			w.WriteByte(statusOK)
		case opGet:
			if v, ok := s.wait(key, wait); ok {
				w.WriteByte(statusOK)
				w.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(v))))
				w.Write(v)
			} else {
				w.WriteByte(statusNot)
			}
		}
		if w.Flush() != nil {
			return
		}
	}
}

func (s *StoreServer) set(key string, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kv[key] = value
	close(s.changed)
	s.changed = make(chan struct{})
}

// wait is key's value once set, or false after d (at most maxWait).
func (s *StoreServer) wait(key string, d time.Duration) ([]byte, bool) {
	t := time.NewTimer(min(d, maxWait))
	defer t.Stop()
	for {
		s.mu.Lock()
		v, ok := s.kv[key]
		changed := s.changed
		s.mu.Unlock()
		if ok || d <= 0 {
			return v, ok
		}
		select {
		case <-changed:
		case <-t.C:
			return nil, false
		case <-s.done:
			return nil, false
		}
	}
}

func putStoreHello(b []byte) {
	binary.LittleEndian.PutUint32(b, storeMagic)
	binary.LittleEndian.PutUint16(b[4:], storeVersion)
}

// readRequest reads one request; any malformed one is an error, and the
// server drops its client.
func readRequest(r *bufio.Reader) (op byte, key string, value []byte, wait time.Duration, err error) {
	var b [3]byte
	if _, err = io.ReadFull(r, b[:]); err != nil {
		return
	}
	op = b[0]
	if op != opSet && op != opGet {
		return 0, "", nil, 0, fmt.Errorf("unknown store request %q", op)
	}
	k := make([]byte, binary.LittleEndian.Uint16(b[1:]))
	if _, err = io.ReadFull(r, k); err != nil {
		return
	}
	key = string(k)
	var n [8]byte
	if op == opGet {
		_, err = io.ReadFull(r, n[:])
		return op, key, nil, time.Duration(binary.LittleEndian.Uint64(n[:])), err
	}
	if _, err = io.ReadFull(r, n[:4]); err != nil {
		return
	}
	size := binary.LittleEndian.Uint32(n[:4])
	if size > maxValue {
		return 0, "", nil, 0, fmt.Errorf("store value of %d bytes", size)
	}
	value = make([]byte, size)
	_, err = io.ReadFull(r, value)
	return op, key, value, 0, err
}
