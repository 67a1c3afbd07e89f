// A rank that takes another for hung tells the rest: each survivor names the rank that hung, not the one that timed out on it and left first.

package runtime

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"baton/runtime/device"
	"baton/runtime/dist"
	"baton/runtime/schedule"
)

// connectMeshes connects world ranks in this process over loopback, their
// messages worded as Join words them; each mesh is closed when the test ends.
func connectMeshes(t *testing.T, world int) []*dist.Mesh {
	t.Helper()
	srv, err := dist.ServeStore("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	meshes, errs := make([]*dist.Mesh, world), make([]error, world)
	var wg sync.WaitGroup
	for r := range world {
		wg.Go(func() {
			st, err := dist.DialStore(ctx, srv.Addr())
			if err != nil {
				errs[r] = err
				return
			}
			defer st.Close()
			if meshes[r], errs[r] = dist.Connect(ctx, st, r, world, "127.0.0.1"); errs[r] == nil {
				meshes[r].Describe = describeTag // as Join words the messages
			}
		})
	}
	wg.Wait()
	for r, m := range meshes {
		if m != nil {
			t.Cleanup(func() { m.Close() })
		}
		if errs[r] != nil {
			t.Fatalf("rank %d: %v", r, errs[r])
		}
	}
	return meshes
}

// survivorNames checks that rank 2, which waited for something of rank 0
// when rank 0 gave up on rank 1 and left, names rank 1's silence.
func survivorNames(t *testing.T, m *dist.Mesh, want string) {
	t.Helper()
	select {
	case <-m.Broken():
	case <-time.After(10 * time.Second):
		t.Fatal("rank 2's mesh did not break when rank 0 left")
	}
	if err := m.Err(); !strings.Contains(err.Error(), want) {
		t.Errorf("rank 2's mesh: %v\nwant it to name rank 1's silence: %q", err, want)
	}
}

// TestSilentRankIsNamedByTheOthers: of three ranks, rank 0 waits in a step
// for the gradient norms of rank 1's stages, which never come; rank 2 waits
// for rank 0. Rank 0 fails on its timeout and leaves; rank 2 must name
// rank 1, which hung, not rank 0 (before, rank 0 left with a plain bye, and
// rank 2 said "rank 0 left the run while this rank waited for ...").
func TestSilentRankIsNamedByTheOthers(t *testing.T) {
	meshes := connectMeshes(t, 3)
	sched, err := schedule.Generate("gpipe", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Both stages are rank 1's: rank 0 only waits for their squares.
	ex := &Executor{Sched: schedule.Lower(sched), Stages: make([]*Stage, 2), Devices: make([]device.Device, 2),
		Group: &Group{Mesh: meshes[0], Ranks: []int{1, 1}}, Timeout: time.Second}
	meshes[2].Inbox(0, dist.Tag{Kind: msgStop, Step: 1})
	r := ex.newRun(ex.Sched.Lists, &StepInput{DScale: 1})
	r.receiveSquares()
	err = r.join()
	if err == nil || !strings.Contains(err.Error(), "waited 1s for ") || !strings.Contains(err.Error(), "from rank 1 (127.0.0.1) without progress") {
		t.Fatalf("rank 0's step: %v, want its own wait on rank 1", err)
	}
	meshes[0].Close() // as its process does on the way out
	survivorNames(t, meshes[2], "rank 1 (127.0.0.1): sent nothing for 1s while rank 0 waited for the gradients' sums of squares")
}

// TestSilentRankIsNamedByTheOthersBetweenSteps: the same for a wait
// between steps.
func TestSilentRankIsNamedByTheOthersBetweenSteps(t *testing.T) {
	meshes := connectMeshes(t, 3)
	g := &Group{Mesh: meshes[0], Timeout: time.Second}
	meshes[2].Inbox(0, dist.Tag{Kind: msgStop, Step: 1})
	if _, err := g.receive(1, dist.Tag{Kind: msgStop, Step: 1}, "before step 1"); err == nil {
		t.Fatal("a wait for a rank that sends nothing succeeded")
	}
	meshes[0].Close()
	survivorNames(t, meshes[2], "rank 1 (127.0.0.1): sent nothing for 1s while rank 0 waited for whether to stop (step 1)")
}
