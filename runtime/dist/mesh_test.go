// Tests of the mesh over loopback: every pair both ways, messages before and after Inbox, concurrent and big sends, what a rank that closes or breaks tells the others, and no goroutine left after Close.

package dist

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// connectAll connects world ranks in this process through one store and
// closes them at the test's end.
func connectAll(t *testing.T, world int) []*Mesh {
	t.Helper()
	s := serveStore(t)
	meshes := make([]*Mesh, world)
	errs := make([]error, world)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for r := range world {
		st := dialStoreT(t, s.Addr())
		wg.Go(func() { meshes[r], errs[r] = Connect(ctx, st, r, world, "") })
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, m := range meshes {
			if m != nil {
				m.Close()
			}
		}
	})
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	return meshes
}

// receive waits for message tag from rank from at m, or fails the test.
func receive(t *testing.T, m *Mesh, from int, tag Tag) []byte {
	t.Helper()
	select {
	case msg := <-m.Inbox(from, tag):
		return msg
	case <-m.Broken():
		t.Fatalf("rank %d: waiting for %v from rank %d: %v", m.Rank(), tag, from, m.Err())
	case <-time.After(10 * time.Second):
		t.Fatalf("rank %d: no %v from rank %d", m.Rank(), tag, from)
	}
	return nil
}

// payloadOf is a message's content that says who sent it and what it is.
func payloadOf(from int, tag Tag, size int) []byte {
	p := make([]byte, size)
	seed := fmt.Sprint(from, tag)
	for i := range p {
		p[i] = seed[i%len(seed)] + byte(i/len(seed))
	}
	return p
}

// pending is how many messages and waiting inboxes m holds.
func (m *Mesh) pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.inbox)
}

func TestMeshEveryPair(t *testing.T) {
	const world = 4
	meshes := connectAll(t, world)
	for r, m := range meshes {
		if m.Rank() != r || m.World() != world {
			t.Fatalf("mesh %d says rank %d of %d", r, m.Rank(), m.World())
		}
		for p := range world {
			if h := m.Host(p); h != "127.0.0.1" {
				t.Errorf("rank %d: Host(%d) = %q", r, p, h)
			}
		}
	}
	// Messages sent before their Inbox is called (step 0) and after (step 1).
	for from, m := range meshes {
		for to := range world {
			if to != from {
				tag := Tag{Kind: 1, Stage: int32(from), Microbatch: int32(to), Step: 0}
				if err := m.Send(to, tag, payloadOf(from, tag, 100)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, m := range meshes {
		deadline := time.Now().Add(5 * time.Second)
		for m.pending() < world-1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	inboxes := map[[2]int]<-chan []byte{}
	for to, m := range meshes {
		for from := range world {
			if from != to {
				tag := Tag{Kind: 1, Stage: int32(from), Microbatch: int32(to), Step: 0}
				if got := receive(t, m, from, tag); !bytes.Equal(got, payloadOf(from, tag, 100)) {
					t.Errorf("rank %d got a wrong %v from rank %d", to, tag, from)
				}
				inboxes[[2]int{from, to}] = m.Inbox(from, Tag{Kind: 1, Step: 1})
			}
		}
	}
	for from, m := range meshes {
		for to := range world {
			if to != from {
				if err := m.Send(to, Tag{Kind: 1, Step: 1}, []byte{byte(from), byte(to)}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for k, ch := range inboxes {
		select {
		case got := <-ch:
			if !bytes.Equal(got, []byte{byte(k[0]), byte(k[1])}) {
				t.Errorf("rank %d got %v from rank %d", k[1], got, k[0])
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("rank %d: no message from rank %d to an inbox asked for first", k[1], k[0])
		}
	}
	for r, m := range meshes {
		if n := m.pending(); n != 0 {
			t.Errorf("rank %d holds %d inbox entries after every message was received", r, n)
		}
	}
}

func TestMeshConcurrentSends(t *testing.T) {
	const world, senders, each = 3, 8, 40
	meshes := connectAll(t, world)
	var wg sync.WaitGroup
	for from, m := range meshes {
		for to := range world {
			if to == from {
				continue
			}
			for g := range senders {
				wg.Go(func() {
					for i := range each {
						tag := Tag{Kind: uint8(g), Stage: int32(from), Microbatch: int32(i), Step: int64(to)}
						if err := m.Send(to, tag, payloadOf(from, tag, 1+(i*7919)%70000)); err != nil {
							t.Error(err)
							return
						}
					}
				})
				wg.Go(func() {
					for i := range each {
						tag := Tag{Kind: uint8(g), Stage: int32(from), Microbatch: int32(i), Step: int64(to)}
						if got := receive(t, meshes[to], from, tag); !bytes.Equal(got, payloadOf(from, tag, 1+(i*7919)%70000)) {
							t.Errorf("rank %d got a wrong %v from rank %d", to, tag, from)
						}
					}
				})
			}
		}
	}
	wg.Wait()
	for r, m := range meshes {
		if n := m.pending(); n != 0 {
			t.Errorf("rank %d holds %d inbox entries after every message was received", r, n)
		}
	}
}

func TestMeshBigPayloads(t *testing.T) {
	meshes := connectAll(t, 2)
	const size = 8 << 20
	var wg sync.WaitGroup
	for from, m := range meshes { // both ways at once: each side's reader must drain while it sends
		to := 1 - from
		tag := Tag{Kind: 2, Stage: int32(from)}
		want := payloadOf(from, tag, size)
		wg.Go(func() {
			if err := m.Send(to, tag, want); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if got := receive(t, meshes[to], from, tag); !bytes.Equal(got, want) {
				t.Errorf("rank %d: the 8 MiB message from rank %d differs", to, from)
			}
		})
	}
	wg.Wait()
}

func TestMeshEmptyPayload(t *testing.T) {
	meshes := connectAll(t, 2)
	if err := meshes[0].Send(1, Tag{}, nil); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, meshes[1], 0, Tag{}); got == nil || len(got) != 0 {
		t.Errorf("an empty message arrived as %#v, want a non-nil empty slice", got)
	}
}

func TestMeshSendToNobody(t *testing.T) {
	meshes := connectAll(t, 2)
	for _, to := range []int{-1, 0, 2} {
		if err := meshes[0].Send(to, Tag{}, nil); err == nil {
			t.Errorf("Send to rank %d of 2 from rank 0 succeeded", to)
		}
	}
	if meshes[0].Err() != nil {
		t.Errorf("a refused Send broke the mesh: %v", meshes[0].Err())
	}
}

func TestMeshNoGoroutineLeft(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("run", func(t *testing.T) {
		meshes := connectAll(t, 3)
		for from, m := range meshes {
			for to := range 3 {
				if to != from {
					if err := m.Send(to, Tag{Step: 7}, binary.LittleEndian.AppendUint64(nil, 7)); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if _, _, err := meshes[2].ClockOffset(0, 4); err != nil {
			t.Fatal(err)
		}
		receive(t, meshes[0], 1, Tag{Step: 7})
	}) // its cleanups close the meshes, stores and server
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after Close:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// waitBroken waits for m to break, and checks that its error says want.
func waitBroken(t *testing.T, m *Mesh, want string) {
	t.Helper()
	select {
	case <-m.Broken():
	case <-time.After(5 * time.Second):
		t.Fatalf("rank %d: the mesh did not break", m.Rank())
	}
	var pe *PeerError
	if !errors.As(m.Err(), &pe) || !strings.Contains(m.Err().Error(), want) {
		t.Errorf("rank %d: Err = %v, want a PeerError that says %q", m.Rank(), m.Err(), want)
	}
	if err := m.Send((m.Rank()+1)%m.World(), Tag{}, nil); err != m.Err() {
		t.Errorf("rank %d: Send on a broken mesh = %v, want its Err", m.Rank(), err)
	}
}

// waitGone waits until m has taken rank's bye.
func waitGone(t *testing.T, m *Mesh, rank int) {
	t.Helper()
	select {
	case <-m.peers[rank].gone:
	case <-time.After(5 * time.Second):
		t.Fatalf("rank %d: no bye from rank %d", m.Rank(), rank)
	}
}

// A rank that closes leaves its messages behind, and breaks the mesh of a
// rank that begins to wait for more from it; that rank's bye then breaks
// the others' meshes, naming the closed rank.
func TestMeshPeerCloses(t *testing.T) {
	meshes := connectAll(t, 3)
	last := Tag{Kind: 9}
	for to := range 2 {
		if err := meshes[2].Send(to, last, []byte("last words")); err != nil {
			t.Fatal(err)
		}
	}
	meshes[2].Close()
	if err := meshes[2].Err(); err != ErrClosed {
		t.Errorf("the closed mesh's Err = %v, want ErrClosed", err)
	}
	for _, m := range meshes[:2] {
		waitGone(t, m, 2)
		if got := receive(t, m, 2, last); string(got) != "last words" {
			t.Errorf("rank %d got %q from the closed rank", m.Rank(), got)
		}
		if m.Err() != nil {
			t.Fatalf("rank %d's mesh broke though it waited for nothing from the closed rank: %v", m.Rank(), m.Err())
		}
	}
	never := meshes[0].Inbox(2, Tag{Kind: 10})
	waitBroken(t, meshes[0], "rank 2 (127.0.0.1): left the run before sending kind 10 stage 0 micro-batch 0 step 0")
	waitBroken(t, meshes[1], "rank 0 (127.0.0.1): its mesh broke: rank 2 (127.0.0.1): left the run before sending")
	select {
	case <-never:
		t.Error("an inbox got a message never sent")
	default:
	}
}

// A rank that takes another for silent breaks its mesh naming that rank,
// and so does every rank its bye reaches, though none waited for it.
func TestMeshSilentNamesTheSilentRank(t *testing.T) {
	meshes := connectAll(t, 3)
	meshes[0].Silent(1, Tag{Kind: 10, Step: 3}, 2*time.Second)
	waitBroken(t, meshes[0], "rank 1 (127.0.0.1): sent nothing for 2s while rank 0 waited for kind 10 stage 0 micro-batch 0 step 3")
	waitBroken(t, meshes[2], "rank 0 (127.0.0.1): its mesh broke: rank 1 (127.0.0.1): sent nothing for 2s")
}

// A rank that waits for a message breaks when the sender closes instead.
func TestMeshPeerClosesWhileAwaited(t *testing.T) {
	meshes := connectAll(t, 2)
	meshes[0].Inbox(1, Tag{Kind: 10})
	meshes[1].Close()
	waitBroken(t, meshes[0], "rank 1 (127.0.0.1): left the run while this rank waited for kind 10 stage 0 micro-batch 0 step 0")
}

// TestByeReasonEndsOnACharacter: a reason past maxBye, passed on in the
// bye, is cut at the start of the character that straddles the limit, not
// inside it (the peer prints it).
func TestByeReasonEndsOnACharacter(t *testing.T) {
	_, conn, err := rawPeer(t, rank1)
	if err != nil {
		t.Fatal(err)
	}
	// m's error is prefix+theirs: "—" (3 bytes) takes bytes maxBye-1 to
	// maxBye+1 of it.
	prefix := "rank 1 (127.0.0.1): its mesh broke: "
	theirs := strings.Repeat("x", maxBye-1-len(prefix)) + "— and more"
	var h [headerSize]byte
	putHeader(&h, frameBye, Tag{}, []byte(theirs))
	if _, err := conn.Write(append(h[:], theirs...)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(conn, h[:]); err != nil {
		t.Fatal(err)
	}
	got, err := parseHeader(&h)
	if err != nil || got.typ != frameBye {
		t.Fatalf("the mesh answered a bye with a frame of type %d (%v), want its own bye", got.typ, err)
	}
	reason := make([]byte, got.length)
	if _, err := io.ReadFull(conn, reason); err != nil {
		t.Fatal(err)
	}
	if want := prefix + theirs[:maxBye-1-len(prefix)]; string(reason) != want {
		t.Errorf("the bye's reason has %d bytes, ending %q; want the %d before the \"—\" (valid UTF-8: %v)",
			len(reason), reason[max(0, len(reason)-8):], len(want), utf8.Valid(reason))
	}
}

// A wait given up (Forget) leaves nothing behind: the sender's Close then
// breaks nothing, and a message that comes after all is kept for Inbox.
func TestMeshForgetsAWaitGivenUp(t *testing.T) {
	meshes := connectAll(t, 2)
	late, never := Tag{Kind: 3, Step: 1}, Tag{Kind: 3, Step: 2}
	meshes[0].Inbox(1, late)
	meshes[0].Inbox(1, never)
	meshes[0].Forget(1, late)
	meshes[0].Forget(1, never)
	if n := meshes[0].pending(); n != 0 {
		t.Fatalf("%d inboxes left after their waits were given up", n)
	}
	if err := meshes[1].Send(0, late, []byte("late")); err != nil {
		t.Fatal(err)
	}
	meshes[1].Close()
	waitGone(t, meshes[0], 1)
	if got := receive(t, meshes[0], 1, late); string(got) != "late" {
		t.Errorf("the message of a wait given up, asked for again: %q", got)
	}
	if err := meshes[0].Err(); err != nil {
		t.Errorf("a rank that gave up its waits broke when the sender closed: %v", err)
	}
}

// A rank that waits for several messages from a rank that closes names
// the earliest of them, every time, whatever order the map holds them in.
func TestMeshPeerClosesWhileSeveralAwaited(t *testing.T) {
	for range 10 {
		meshes := connectAll(t, 2)
		for _, tag := range []Tag{{Kind: 4, Step: 8}, {Kind: 2, Stage: 1, Step: 7}, {Kind: 4, Step: 7}, {Kind: 2, Stage: 0, Microbatch: 3, Step: 7}, {Kind: 1, Step: 9}} {
			meshes[0].Inbox(1, tag)
		}
		meshes[1].Close()
		waitBroken(t, meshes[0], "rank 1 (127.0.0.1): left the run while this rank waited for kind 2 stage 0 micro-batch 3 step 7")
	}
}

func TestMeshSendToClosedPeer(t *testing.T) {
	meshes := connectAll(t, 2)
	meshes[1].Close()
	waitGone(t, meshes[0], 1)
	if err := meshes[0].Send(1, Tag{Kind: 4}, nil); err == nil || err != meshes[0].Err() || !strings.Contains(err.Error(), "rank 1 (127.0.0.1): left the run before this rank could send kind 4 stage 0 micro-batch 0 step 0") {
		t.Errorf("Send to a closed rank = %v, want the mesh's Err", err)
	}
}

// Ranks that close at once all finish promptly.
func TestMeshCloseTogether(t *testing.T) {
	meshes := connectAll(t, 3)
	start := time.Now()
	var wg sync.WaitGroup
	for _, m := range meshes {
		wg.Go(func() { m.Close() })
	}
	wg.Wait()
	if d := time.Since(start); d >= byeTimeout {
		t.Errorf("closing together took %v: some rank waited out its bye", d)
	}
}

func TestMeshPeerDies(t *testing.T) {
	meshes := connectAll(t, 3)
	// Rank 2's connections end as its process's end would end them: with no
	// bye, which its held write locks keep it from sending.
	for _, p := range meshes[2].peers[:2] {
		p.wmu.Lock()
		defer p.wmu.Unlock()
	}
	for _, p := range meshes[2].peers[:2] {
		p.conn.Close()
	}
	for _, m := range meshes[:2] {
		waitBroken(t, m, "rank 2 (127.0.0.1): connection lost: EOF")
	}
}

func TestConnectGivesUp(t *testing.T) {
	s := serveStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// Ranks 1 and 2 of 4 start; 0 and 3 never do.
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range errs {
		st := dialStoreT(t, s.Addr())
		wg.Go(func() {
			m, err := Connect(ctx, st, i+1, 4, "")
			if m != nil {
				m.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("rank %d: Connect without its peers = %v, want the deadline", i+1, err)
		}
	}
	// Whichever of its waits failed first, each names the missing ranks.
	for i, accepting := range []string{"waiting for ranks [2 3] to connect", "waiting for ranks [3] to connect"} {
		if err := errs[i].Error(); !strings.Contains(err, "rank 0 did not publish its address") && !strings.Contains(err, accepting) {
			t.Errorf("rank %d: %v names no missing rank", i+1, err)
		}
	}
}
