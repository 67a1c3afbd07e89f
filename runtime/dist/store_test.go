// Tests of the rendezvous store: values, waiting gets, retried dials, timeouts and a server that goes away.

package dist

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// serveStore starts a store on a free loopback port, closed at the test's end.
func serveStore(t *testing.T) *StoreServer {
	t.Helper()
	s, err := ServeStore("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func dialStoreT(t *testing.T, addr string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := DialStore(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// freeAddr is a loopback address nothing listens at (for a moment).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestStoreSetGet(t *testing.T) {
	s := serveStore(t)
	a, b := dialStoreT(t, s.Addr()), dialStoreT(t, s.Addr())
	big := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16) // 4 MiB
	for _, c := range []struct {
		key   string
		value []byte
	}{{"a", []byte("1")}, {"empty", []byte{}}, {"big", big}, {"a", []byte("2")}} {
		if err := a.Set(c.key, c.value); err != nil {
			t.Fatal(err)
		}
		got, err := b.Get(context.Background(), c.key)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, c.value) {
			t.Errorf("Get(%q) = %d bytes, want %d", c.key, len(got), len(c.value))
		}
	}
}

func TestStoreGetWaitsForSet(t *testing.T) {
	s := serveStore(t)
	a, b := dialStoreT(t, s.Addr()), dialStoreT(t, s.Addr())
	got := make(chan []byte, 1)
	go func() {
		v, err := b.Get(context.Background(), "later")
		if err != nil {
			t.Error(err)
		}
		got <- v
	}()
	time.Sleep(50 * time.Millisecond)
	if err := a.Set("later", []byte("here")); err != nil {
		t.Fatal(err)
	}
	if v := <-got; string(v) != "here" {
		t.Errorf("Get = %q, want %q", v, "here")
	}
}

// TestStoreGetOrEndsOnTheOtherKey: a wait for a key never set ends soon
// after the key it watches is set, with that key's value; a key set first
// is returned as Get returns it.
func TestStoreGetOrEndsOnTheOtherKey(t *testing.T) {
	s := serveStore(t)
	a, b := dialStoreT(t, s.Addr()), dialStoreT(t, s.Addr())
	if _, ok, err := b.Lookup("stop"); ok || err != nil {
		t.Fatalf("Lookup of a key not set = %v, %v", ok, err)
	}
	if err := a.Set("key", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, other, err := b.GetOr(context.Background(), "key", "stop"); err != nil || other || string(v) != "v" {
		t.Fatalf("GetOr of a key set = %q, %v, %v", v, other, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		time.Sleep(50 * time.Millisecond)
		a.Set("stop", []byte("why"))
	}()
	start := time.Now()
	v, other, err := b.GetOr(ctx, "never", "stop")
	if err != nil || !other || string(v) != "why" {
		t.Fatalf("GetOr once the other key is set = %q, %v, %v; want its value", v, other, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("GetOr took %v to see the other key set", d)
	}
	if v, ok, err := b.Lookup("stop"); !ok || err != nil || string(v) != "why" {
		t.Errorf("Lookup of a key set = %q, %v, %v", v, ok, err)
	}
}

func TestStoreManyClients(t *testing.T) {
	s := serveStore(t)
	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		st := dialStoreT(t, s.Addr())
		wg.Go(func() {
			if err := st.Set(fmt.Sprint(i), []byte(fmt.Sprint("value ", i))); err != nil {
				t.Error(err)
				return
			}
			for j := range n {
				v, err := st.Get(context.Background(), fmt.Sprint(j))
				if err != nil || string(v) != fmt.Sprint("value ", j) {
					t.Errorf("client %d: Get(%d) = %q, %v", i, j, v, err)
				}
			}
		})
	}
	wg.Wait()
}

func TestStoreGetTimeout(t *testing.T) {
	s := serveStore(t)
	st := dialStoreT(t, s.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := st.Get(ctx, "never")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `"never" was not set after waiting`) {
		t.Fatalf("Get of a key never set: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Get waited %v past a 100ms deadline", d)
	}
	// A cancelled wait leaves the connection usable.
	if err := st.Set("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, err := st.Get(context.Background(), "k"); err != nil || string(v) != "v" {
		t.Fatalf("after a timeout, Get = %q, %v", v, err)
	}
}

func TestDialStoreRetriesUntilServed(t *testing.T) {
	addr := freeAddr(t)
	type result struct {
		st  *Store
		err error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		st, err := DialStore(ctx, addr)
		done <- result{st, err}
	}()
	time.Sleep(150 * time.Millisecond) // some refused tries
	s, err := ServeStore(addr)
	if err != nil {
		t.Skipf("the free port was taken meanwhile: %v", err)
	}
	defer s.Close()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.st.Close()
	if err := r.st.Set("k", nil); err != nil {
		t.Fatal(err)
	}
}

func TestDialStoreGivesUp(t *testing.T) {
	addr := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := DialStore(ctx, addr)
	if err == nil {
		t.Fatal("DialStore of an address nothing serves succeeded")
	}
	for _, want := range []string{"the rendezvous at " + addr + ", which rank 0 serves, did not answer", "refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %q does not wrap the deadline", err)
	}
}

func TestDialStoreRefusesAStranger(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("SSH-2.0-OpenSSH\r\n"))
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = DialStore(ctx, ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "not this baton's store") {
		t.Fatalf("DialStore of another service: %v", err)
	}
}

func TestStoreServerGone(t *testing.T) {
	s, err := ServeStore("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st := dialStoreT(t, s.Addr())
	if err := st.Set("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() {
		_, err := st.Get(context.Background(), "never")
		waiting <- err
	}()
	time.Sleep(20 * time.Millisecond)
	s.Close()
	select {
	case err := <-waiting:
		if err == nil || !strings.Contains(err.Error(), "connection lost") {
			t.Errorf("a waiting Get when the server closed: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiting Get hangs after the server closed")
	}
	for _, call := range []func() error{
		func() error { return st.Set("k", []byte("w")) },
		func() error { _, err := st.Get(context.Background(), "k"); return err },
	} {
		if err := call(); err == nil || !strings.Contains(err.Error(), "connection lost") {
			t.Errorf("a call after the server closed: %v", err)
		}
	}
}
