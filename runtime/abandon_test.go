// A wait for another rank that a step gives up (an abort) is forgotten: the peer's orderly Close later breaks nothing and names no wait.

package runtime

import (
	"errors"
	"strings"
	"testing"
	"time"

	"baton/runtime/device"
	"baton/runtime/dist"
	"baton/runtime/schedule"
)

// TestAbortedWaitIsForgotten: rank 0's step fails of its own accord while
// it waits for rank 1's gradient norms; rank 1 then closes in order. Rank
// 0's mesh must not take rank 1 for having left while awaited (before, the
// aborted waits' slots stayed, and its mesh broke saying rank 1 "left the
// run while this rank waited for the gradients' sums of squares"): only a
// wait begun after the Close names rank 1.
func TestAbortedWaitIsForgotten(t *testing.T) {
	meshes := connectMeshes(t, 2)
	sched, err := schedule.Generate("gpipe", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	ex := &Executor{Sched: schedule.Lower(sched), Stages: make([]*Stage, 2), Devices: make([]device.Device, 2),
		Group: &Group{Mesh: meshes[0], Ranks: []int{1, 1}}, Timeout: time.Minute}
	r := ex.newRun(ex.Sched.Lists, &StepInput{DScale: 1})
	r.receiveSquares()
	r.fail(errors.New("a fault of rank 0's"))
	if err := r.join(); err == nil {
		t.Fatal("the failed step succeeded")
	}
	meshes[1].Close()
	// Before or after rank 1's bye is taken, this wait is the only one.
	meshes[0].Inbox(1, dist.Tag{Kind: msgStop, Step: 99})
	select {
	case <-meshes[0].Broken():
	case <-time.After(10 * time.Second):
		t.Fatal("rank 0's mesh did not break on a wait for a rank that closed")
	}
	if err := meshes[0].Err(); !strings.Contains(err.Error(), "whether to stop (step 99)") {
		t.Errorf("rank 0's mesh: %v\nwant it to name the wait begun after rank 1 closed, not an aborted one", err)
	}
}
