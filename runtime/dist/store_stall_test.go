// The store against time: a big answer after an idle spell, a Get and a Close against a server that stopped answering, a malformed address.

package dist

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// TestStoreBigValueAfterIdle: an answer bigger than the server's buffer,
// to a client idle for longer than storeIOTimeout, arrives whole: the
// server's write deadline is set for each answer before it is written.
func TestStoreBigValueAfterIdle(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits storeIOTimeout")
	}
	s := serveStore(t)
	st := dialStoreT(t, s.Addr())
	big := bytes.Repeat([]byte{7}, 64<<10) // far below maxValue
	if err := st.Set("big", big); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if v, err := st.Get(ctx, "big"); err != nil || !bytes.Equal(v, big) {
		t.Fatalf("first Get: %d bytes, %v", len(v), err)
	}
	time.Sleep(storeIOTimeout + time.Second) // the client does something else
	v, err := st.Get(ctx, "big")
	if err != nil || !bytes.Equal(v, big) {
		t.Fatalf("Get of a %d-byte value after %v idle: %d bytes, %v", len(big), storeIOTimeout+time.Second, len(v), err)
	}
}

// stalledStore is a server that answers the hello and then reads requests
// without ever answering them: rank 0 stopped (SIGSTOP) or its host gone
// quiet. It returns its address, and stop, which closes it and its
// connections (registered as a cleanup by the caller after its client's,
// so that it runs first).
func stalledStore(t *testing.T) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
			go func() {
				var hi [6]byte
				if _, err := io.ReadFull(c, hi[:]); err != nil {
					return
				}
				binary.LittleEndian.PutUint32(hi[:], storeMagic)
				binary.LittleEndian.PutUint16(hi[4:], storeVersion)
				c.Write(hi[:])
				io.Copy(io.Discard, c) // never answers
			}()
		}
	}()
	return ln.Addr().String(), func() {
		ln.Close()
		for {
			select {
			case c := <-conns:
				c.Close()
			default:
				return
			}
		}
	}
}

// TestStoreGetHonoursContextOnStalledServer: against a server that stopped
// answering, a Get in flight ends within a second of its context, not on
// its connection's storeIOTimeout: a rank's --timeout under 10 s holds in
// the rendezvous too.
func TestStoreGetHonoursContextOnStalledServer(t *testing.T) {
	t.Parallel()
	addr, stop := stalledStore(t)
	st := dialStoreT(t, addr)
	t.Cleanup(stop)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := st.Get(ctx, "join/0")
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Get from a server that never answers returned a value")
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Get with a 300ms context returned after %v: %v", d, err)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("Get with a 300ms context has not returned after 3s (it waits on its connection's deadline, wait+%v)", storeIOTimeout)
	}
}

// TestStoreCloseDoesNotBlockOnStalledServer: Close returns at once while a
// Get waits on a server that stopped answering, and that Get fails.
func TestStoreCloseDoesNotBlockOnStalledServer(t *testing.T) {
	t.Parallel()
	addr, stop := stalledStore(t)
	st := dialStoreT(t, addr)
	t.Cleanup(stop)
	go st.Get(context.Background(), "join/0")
	time.Sleep(100 * time.Millisecond) // the Get is in flight
	closed := make(chan struct{})
	start := time.Now()
	go func() {
		st.Close()
		close(closed)
	}()
	select {
	case <-closed:
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Close took %v", d)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Store.Close blocks while a Get waits on a server that stopped answering")
	}
}

// TestDialStoreMalformedAddressFailsFast: an address that does not parse
// fails at once, where a retry could change nothing.
func TestDialStoreMalformedAddressFailsFast(t *testing.T) {
	for _, addr := range []string{
		net.JoinHostPort("[::1]", "29500"), // "[[::1]]:29500"
		"127.0.0.1",                        // no port at all
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		start := time.Now()
		_, err := DialStore(ctx, addr)
		cancel()
		if err == nil {
			t.Fatalf("DialStore(%q) succeeded", addr)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("DialStore(%q) retried a malformed address for %v before failing: %v", addr, d.Round(time.Millisecond), err)
		}
	}
}
