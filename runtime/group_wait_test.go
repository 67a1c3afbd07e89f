//go:build unix

// The waits between steps of a run of several processes: a stop of the whole process (SIGSTOP) longer than the timeout fails none, a silent peer still fails them on time.

package runtime

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"baton/runtime/dist"
)

// groupStopEnv tells the test binary, run again as a child, to wait
// between steps as TestGroupWaitsSurviveAStop directs it.
const groupStopEnv = "BATON_TEST_GROUP_STOP"

// groupPair is rank 0's group of a run of two in this process, with the
// given timeout, and rank 1's mesh; both closed when the test ends.
func groupPair(t *testing.T, timeout time.Duration) (*Group, *dist.Mesh) {
	t.Helper()
	meshes := connectMeshes(t, 2)
	return &Group{Mesh: meshes[0], Timeout: timeout}, meshes[1]
}

// TestGroupWaitsHelper is the child: it says "receiving", then waits for
// a message that rank 1 sends once a line comes on stdin; then it says
// "transferring" and waits, as for a link's transfer, for another line.
func TestGroupWaitsHelper(t *testing.T) {
	if os.Getenv(groupStopEnv) == "" {
		t.Skip("only runs as the child of TestGroupWaitsSurviveAStop")
	}
	g, peer := groupPair(t, time.Second)
	in := bufio.NewReader(os.Stdin)
	tag := dist.Tag{Kind: msgStop, Step: 1}
	read := make(chan struct{}) // the line read: stdin is the transfer's next (the race detector sees no order through the mesh)
	go func() {
		defer close(read)
		if _, err := in.ReadString('\n'); err == nil {
			peer.Send(0, tag, []byte{0})
		}
	}()
	fmt.Println("receiving")
	if _, err := g.receive(1, tag, "before step 1"); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	<-read
	fmt.Println("transferring")
	if err := g.within("a link's transfer", func() error {
		_, err := in.ReadString('\n')
		return err
	}); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
}

// TestGroupWaitsSurviveAStop: a rank stopped (SIGSTOP) for longer than the
// timeout while it waits between steps, as in a stop of the whole run,
// goes on once continued and its peer answers: the stop does not count.
// Without the running-time clock each wait fails at once on SIGCONT,
// before the answer, sent after it, can arrive.
func TestGroupWaitsSurviveAStop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGroupWaitsHelper$")
	cmd.Env = append(os.Environ(), groupStopEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	out := bufio.NewReader(stdout)
	var said strings.Builder
	for _, wait := range []string{"receiving", "transferring"} {
		for {
			line, err := out.ReadString('\n')
			said.WriteString(line)
			if err != nil {
				t.Fatalf("the child ended before saying %q; it said:\n%s%s", wait, said.String(), stderr.String())
			}
			if strings.TrimSpace(line) == wait {
				break
			}
		}
		// Into the wait, then stopped for 2.5 times its timeout of 1s.
		time.Sleep(200 * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2500 * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		if _, err := io.WriteString(stdin, "go\n"); err != nil {
			break // the child failed the wait and ended: it says why
		}
	}
	rest, _ := io.ReadAll(out)
	said.Write(rest)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("stopped for 2.5s in waits of a 1s timeout, the child: %v; it said:\n%s%s", err, said.String(), stderr.String())
	}
}

// TestGroupWaitsFailOnTime: a peer that sends nothing, and a transfer that
// never ends, still fail their waits near the timeout while this process
// runs; the transfer is left to end before the devices are freed.
func TestGroupWaitsFailOnTime(t *testing.T) {
	const timeout = 300 * time.Millisecond
	g, _ := groupPair(t, timeout)
	began := time.Now()
	_, err := g.receive(1, dist.Tag{Kind: msgStop, Step: 7}, "before step 7")
	took := time.Since(began)
	if want := "before step 7: rank 1 (127.0.0.1) sent nothing for 300ms"; err == nil || err.Error() != want {
		t.Errorf("receive from a silent peer: %v, want %q", err, want)
	}
	if took < timeout || took > 10*timeout {
		t.Errorf("receive from a silent peer failed after %v, want just over %v", took, timeout)
	}
	g, _ = groupPair(t, timeout) // the silent peer broke the first pair's mesh
	began = time.Now()
	stuck := make(chan struct{})
	release := sync.OnceFunc(func() { close(stuck) })
	defer release()
	err = g.within("moving block 3", func() error { <-stuck; return nil })
	took = time.Since(began)
	if want := "moving block 3: not done after 300ms"; err == nil || err.Error() != want {
		t.Errorf("a transfer that never ends: %v, want %q", err, want)
	}
	if took < timeout || took > 10*timeout {
		t.Errorf("a transfer that never ends failed after %v, want just over %v", took, timeout)
	}
	// It still runs, on the devices: nothing may be freed under it.
	if g.settle(10 * time.Millisecond) {
		t.Error("settle says nothing is left while the transfer still runs")
	}
	release()
	if !g.settle(time.Minute) {
		t.Error("settle says the transfer is left after it ended")
	}
}
