// The mesh against a peer that claims a huge payload, and Close racing a failure raised outside the mesh's goroutines.

package dist

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// hugeFrameEnv makes the test binary play the receiving rank of
// TestHugeFrameHeaderAllocatesLittle in a child process.
const hugeFrameEnv = "BATON_TEST_HUGE_FRAME"

// TestHugeFrameHeaderAllocatesLittle: a peer past the hello (anything that
// can reach the mesh's port) that sends one well-formed header claiming
// MaxPayload (64 GiB) and no payload does not make this rank allocate it:
// the reader's buffer grows with the bytes that arrive. Run in a child
// process, which an allocation of 64 GiB would kill.
func TestHugeFrameHeaderAllocatesLittle(t *testing.T) {
	t.Parallel()
	if os.Getenv(hugeFrameEnv) == "1" {
		hugeFrameChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHugeFrameHeaderAllocatesLittle$", "-test.v", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), hugeFrameEnv+"=1")
	out, err := cmd.CombinedOutput()
	tail := string(out)
	if len(tail) > 1500 {
		tail = tail[:1500]
	}
	if err != nil {
		t.Fatalf("the rank that received a header claiming %d bytes died (%v):\n%s", uint64(MaxPayload), err, tail)
	}
	if !strings.Contains(string(out), "CHILD-OK") {
		t.Fatalf("child did not finish:\n%s", tail)
	}
}

func hugeFrameChild(t *testing.T) {
	m, conn, err := rawPeer(t, rank1)
	if err != nil {
		t.Fatal(err)
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var h [headerSize]byte
	putHeader(&h, frameData, Tag{Step: 1}, nil)
	// The same header claiming MaxPayload bytes, its checksum redone: what
	// a peer of another build or a hostile one sends; the payload never comes.
	binary.LittleEndian.PutUint64(h[24:], MaxPayload)
	rechecksum(h[:])
	if _, err := conn.Write(h[:]); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		var now runtime.MemStats
		runtime.ReadMemStats(&now)
		if grew := int64(now.HeapSys) - int64(before.HeapSys); grew > 1<<30 {
			t.Fatalf("receiving a 40-byte header grew the heap by %d MiB before any payload came", grew>>20)
		}
		select {
		case <-m.Broken():
			fmt.Println("CHILD-OK: refused:", m.Err())
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	fmt.Println("CHILD-OK: nothing allocated, waiting for the payload")
}

// rechecksum redoes the checksum of the header at the start of b after a
// test changed it.
func rechecksum(b []byte) {
	binary.LittleEndian.PutUint32(b[36:], crc32.Checksum(b[:36], castagnoli))
}

// TestCloseRacesAnOutsideFailure: a failure raised outside the mesh's
// goroutines (a Send to a peer gone) and a Close at the same moment: Close
// waits for the byes that failure starts (the race detector checks the
// WaitGroup's order).
func TestCloseRacesAnOutsideFailure(t *testing.T) {
	for i := range 1000 {
		meshes := connectAll(t, 2)
		a, b := meshes[0], meshes[1]
		b.Close() // orderly: a's reader takes the bye and ends
		waitGone(t, a, 1)
		<-a.peers[1].done // and its reader has ended: no goroutine of a's holds its WaitGroup
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); a.Send(1, Tag{Step: int64(i)}, []byte("late")) }() // fails: breaks the mesh from outside
		go func() { defer wg.Done(); a.Close() }()
		wg.Wait()
	}
}
