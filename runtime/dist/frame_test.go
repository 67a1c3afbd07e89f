// Tests of what a rank refuses: damaged or foreign frames, a hello of another world or version, and a peer that stopped reading.

package dist

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// rawPeer starts rank 0 of a world of 2 and plays rank 1 by hand with the
// hello h: the test then writes whatever bytes it likes. It
// returns rank 0's mesh and the raw connection, or Connect's error.
func rawPeer(t *testing.T, h hello) (*Mesh, net.Conn, error) {
	t.Helper()
	s := serveStore(t)
	st0, st1 := dialStoreT(t, s.Addr()), dialStoreT(t, s.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	type result struct {
		m   *Mesh
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := Connect(ctx, st0, 0, 2, "")
		done <- result{m, err}
	}()
	addr, err := st1.Get(ctx, addrKey(0))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", string(addr))
	if err != nil {
		t.Fatal(err)
	}
	if err := writeHello(conn, h); err != nil {
		conn.Close()
		t.Fatal(err)
	}
	r := <-done
	if r.m != nil {
		t.Cleanup(func() { r.m.Close() })
	}
	t.Cleanup(func() { conn.Close() }) // first: the mesh's bye waits for it
	if r.m != nil {
		if _, err := readHello(conn); err != nil {
			t.Fatal(err)
		}
	}
	return r.m, conn, r.err
}

// rank1 is the hello of a well-behaved rank 1 of 2.
var rank1 = hello{version: protocolVersion, rank: 1, world: 2, addr: "127.0.0.1:1"}

// frame is a whole frame as Send writes it.
func frame(tag Tag, payload []byte) []byte {
	var h [headerSize]byte
	putHeader(&h, frameData, tag, payload)
	return append(h[:], payload...)
}

func TestMeshRefusesBadFrames(t *testing.T) {
	tag := Tag{Kind: 1, Stage: 2, Microbatch: 3, Step: 4}
	for _, c := range []struct {
		name, want string
		bytes      func() []byte
	}{
		{"payload", "payload checksum mismatch", func() []byte {
			b := frame(tag, []byte("activations"))
			b[headerSize+3] ^= 0x10
			return b
		}},
		{"tag", "header checksum mismatch", func() []byte {
			b := frame(tag, []byte("activations"))
			b[12] ^= 0x01 // the micro-batch: it would be delivered to another inbox
			return b
		}},
		{"magic", "bad magic", func() []byte {
			return []byte("GET / HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n")
		}},
		{"length", "impossible payload length", func() []byte {
			b := frame(tag, nil)
			binary.LittleEndian.PutUint64(b[24:], MaxPayload+1)
			rechecksum(b)
			return b
		}},
		{"type", "unknown frame type", func() []byte {
			b := frame(tag, nil)
			b[4] = 9
			rechecksum(b)
			return b
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, conn, err := rawPeer(t, rank1)
			if err != nil {
				t.Fatal(err)
			}
			inbox := m.Inbox(1, tag)
			if _, err := conn.Write(c.bytes()); err != nil {
				t.Fatal(err)
			}
			select {
			case <-m.Broken():
			case <-time.After(5 * time.Second):
				t.Fatal("the mesh took a bad frame")
			}
			var pe *PeerError
			if !errors.As(m.Err(), &pe) || pe.Rank != 1 || pe.Host != "127.0.0.1" || !strings.Contains(pe.Error(), "rank 1 (127.0.0.1): bad frame: "+c.want) {
				t.Errorf("Err = %v, want rank 1 (127.0.0.1) and %q", m.Err(), c.want)
			}
			select {
			case msg := <-inbox:
				t.Errorf("a bad frame was delivered: %q", msg)
			default:
			}
		})
	}
}

func TestMeshDeliversAGoodRawFrame(t *testing.T) {
	m, conn, err := rawPeer(t, rank1)
	if err != nil {
		t.Fatal(err)
	}
	tag := Tag{Kind: 3, Step: -1}
	if _, err := conn.Write(frame(tag, []byte("ok"))); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, m, 1, tag); string(got) != "ok" {
		t.Errorf("got %q", got)
	}
}

func TestMeshPeerCrashes(t *testing.T) {
	m, conn, err := rawPeer(t, rank1)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write(frame(Tag{}, []byte("half"))[:headerSize+2])
	conn.Close()
	waitBroken(t, m, "rank 1 (127.0.0.1): connection lost in the middle of a frame: unexpected EOF")
}

func TestMeshRefusesDuplicates(t *testing.T) {
	m, conn, err := rawPeer(t, rank1)
	if err != nil {
		t.Fatal(err)
	}
	f := frame(Tag{Kind: 1}, []byte("x"))
	conn.Write(append(f, f...))
	select {
	case <-m.Broken():
		if !strings.Contains(m.Err().Error(), "twice") {
			t.Errorf("Err = %v, want a message sent twice", m.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the mesh took a message twice")
	}
}

func TestConnectRefusesAnotherWorld(t *testing.T) {
	s := serveStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errs := make(chan error, 2)
	for rank, world := range []int{2, 3} {
		st := dialStoreT(t, s.Addr())
		go func() {
			m, err := Connect(ctx, st, rank, world, "")
			if m != nil {
				m.Close()
			}
			errs <- err
		}()
	}
	var both []string
	for range 2 {
		err := <-errs
		if err == nil {
			t.Fatal("ranks of worlds 2 and 3 connected")
		}
		both = append(both, err.Error())
	}
	for _, want := range []string{"rank 0 has world size 2 but rank 1 at 127.0.0.1:", "rank 1 has world size 3 but rank 0 at 127.0.0.1:"} {
		if !strings.Contains(both[0], want) && !strings.Contains(both[1], want) {
			t.Errorf("neither error says %q:\n%s", want, strings.Join(both, "\n"))
		}
	}
}

func TestConnectRefusesAnotherVersion(t *testing.T) {
	h := rank1
	h.version = protocolVersion + 1
	_, _, err := rawPeer(t, h)
	if err == nil || !strings.Contains(err.Error(), "speaks mesh protocol") {
		t.Fatalf("Connect with a peer of another version: %v", err)
	}
}

func TestConnectRefusesAStranger(t *testing.T) {
	s := serveStore(t)
	st0, st1 := dialStoreT(t, s.Addr()), dialStoreT(t, s.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := Connect(ctx, st0, 0, 2, "")
		errc <- err
	}()
	addr, err := st1.Get(ctx, addrKey(0))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", string(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	if err := <-errc; err == nil || !strings.Contains(err.Error(), `not a baton rank: it began with "GET "`) {
		t.Fatalf("Connect with a stranger: %v", err)
	}
}

func TestSendTimeout(t *testing.T) {
	m, _, err := rawPeer(t, rank1) // a rank 1 that never reads
	if err != nil {
		t.Fatal(err)
	}
	m.SendTimeout = 200 * time.Millisecond
	start := time.Now()
	big := make([]byte, 64<<20)
	for i := 0; err == nil && i < 16; i++ { // until the socket buffers, however large, are full
		err = m.Send(1, Tag{Step: int64(i)}, big)
	}
	if err == nil || !strings.Contains(err.Error(), "made no progress for 200ms: the peer stopped reading") {
		t.Fatalf("Send to a peer that does not read: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "rank 1 (127.0.0.1): sending kind 0 stage 0 micro-batch 0 step ") {
		t.Errorf("Send's error %q does not name the peer and the message", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send gave up after %v", d)
	}
	select {
	case <-m.Broken():
	default:
		t.Error("a send cut short left the mesh working")
	}
}
