// A send to another rank that fails says where this rank was in the executor's words: the action, not the message's raw tag with the executor's count of runs, which is no step.

package runtime

import (
	"testing"

	"baton/runtime/device"
	"baton/runtime/schedule"
)

func TestLostSendSaysWhereThisRankWas(t *testing.T) {
	meshes := connectMeshes(t, 2)
	sched, err := schedule.Generate("gpipe", 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	dev := device.NewCPU("cpu:0")
	ex := &Executor{Sched: schedule.Lower(sched), Stages: make([]*Stage, 2), Devices: []device.Device{dev, nil},
		Group: &Group{Mesh: meshes[0], Ranks: []int{0, 1}}}
	ex.seq = 528 // steps and evaluations run: the run is at some step before it
	r := ex.newRun(ex.Sched.Lists, &StepInput{})
	meshes[0].Close()
	a := schedule.Action{Stage: 0, Kind: schedule.SendF, Microbatch: 2}
	err = r.sendBuffer(dev, a, 1, r.tag(msgActivation, 1, 2), dev.Ops().Alloc(4))
	if want := "dist: mesh closed; this rank was sending 0SEND_F2 to rank 1"; err == nil || err.Error() != want {
		t.Errorf("a send on a closed mesh: %v, want %q", err, want)
	}
}
