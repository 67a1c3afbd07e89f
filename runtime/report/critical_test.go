// Tests of the critical path on hand-made steps: which actions, across which devices, set a step's length.

package report

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"baton/runtime/schedule"
)

// pathString prints a path as "device:action" in time order.
func pathString(step *Step, path []PathNode) string {
	var parts []string
	for _, n := range path {
		parts = append(parts, fmt.Sprintf("%d:%s", n.Device, step.Records[n.Device][n.Index].Action))
	}
	return strings.Join(parts, " ")
}

func TestCriticalPathNaive(t *testing.T) {
	step := traceTwoStageStep()
	got := pathString(step, CriticalPath(step))
	want := "0:0F0 0:0SEND_F0 1:1RECV_F0 1:1F0 1:1B0 1:1SEND_B0 0:0RECV_B0 0:0B0"
	if got != want {
		t.Errorf("critical path\n got %s\nwant %s", got, want)
	}
}

func TestCriticalPathSmallWaitStaysOnDevice(t *testing.T) {
	us := time.Microsecond
	step := &Step{Records: [][]Record{
		{
			{Action: schedule.Action{Stage: 0, Kind: schedule.F, Microbatch: 0}, Start: 0, End: 1000 * us},
			{Action: schedule.Action{Stage: 0, Kind: schedule.SendF, Microbatch: 0}, Start: 1000 * us, End: 1100 * us},
		},
		{
			{Action: schedule.Action{Stage: 1, Kind: schedule.F, Microbatch: 7}, Start: 0, End: 1095 * us}, // another micro-batch kept the device busy
			// Waited 5 µs: under the 10 µs floor, so the device's own work is what the path follows.
			{Action: schedule.Action{Stage: 1, Kind: schedule.RecvF, Microbatch: 0}, Start: 1095 * us, End: 1200 * us, Wait: 5 * us},
			{Action: schedule.Action{Stage: 1, Kind: schedule.F, Microbatch: 0}, Start: 1200 * us, End: 2200 * us},
		},
	}}
	if got, want := pathString(step, CriticalPath(step)), "1:1F7 1:1RECV_F0 1:1F0"; got != want {
		t.Errorf("critical path %s, want %s", got, want)
	}
	// 30 µs of a 105 µs receive is over both thresholds: the path hops.
	step.Records[1][1].Wait = 30 * us
	if got, want := pathString(step, CriticalPath(step)), "0:0F0 0:0SEND_F0 1:1RECV_F0 1:1F0"; got != want {
		t.Errorf("critical path %s, want %s", got, want)
	}
	// 30 µs measured, but the send had ended before the receive began: the
	// data was there, the wait is the host's jitter, and the path stays.
	step.Records[1][0].End, step.Records[1][1].Start = 1200*us, 1200*us
	step.Records[1][1].End, step.Records[1][2].Start, step.Records[1][2].End = 1240*us, 1240*us, 2240*us
	if got, want := pathString(step, CriticalPath(step)), "1:1F7 1:1RECV_F0 1:1F0"; got != want {
		t.Errorf("critical path %s, want %s", got, want)
	}
	step.Records[1][0].End, step.Records[1][1].Start = 1095*us, 1095*us
	step.Records[1][1].End, step.Records[1][2].Start, step.Records[1][2].End = 1200*us, 1200*us, 2200*us
	// 30 µs of a 10 ms receive is under 2% of it: it stays.
	step.Records[1][1].End = 10 * time.Millisecond
	step.Records[1][2].Start, step.Records[1][2].End = 10*time.Millisecond, 11*time.Millisecond
	if got, want := pathString(step, CriticalPath(step)), "1:1F7 1:1RECV_F0 1:1F0"; got != want {
		t.Errorf("critical path %s, want %s", got, want)
	}
}

// On a 1F1B step the path ends at the last compute action, every hop is a
// receive that waited on its sender, and with the gaps the shares add up to
// the pipeline span.
func TestCriticalPath1F1B(t *testing.T) {
	step := tlExampleStep(4, 8)
	path := CriticalPath(step)
	if len(path) == 0 {
		t.Fatal("no critical path")
	}
	last := path[len(path)-1]
	if r := step.Records[last.Device][last.Index]; !r.Action.Kind.IsCompute() || r.End != step.PipelineSpan() {
		t.Errorf("the path ends at %s (%v), want the last compute action, ending at %v", r.Action, r.End, step.PipelineSpan())
	}
	if first := path[0]; first.Index != 0 {
		t.Errorf("the path starts at action %d of device %d, want a device's first action", first.Index, first.Device)
	}
	for i := 1; i < len(path); i++ {
		prev, n := path[i-1], path[i]
		r := step.Records[n.Device][n.Index]
		if prev.Device == n.Device {
			if prev.Index != n.Index-1 {
				t.Errorf("on device %d the path skips from action %d to %d", n.Device, prev.Index, n.Index)
			}
			continue
		}
		from := step.Records[prev.Device][prev.Index]
		if !pathWaited(r) || pathSender(r.Action) != from.Action {
			t.Errorf("hop from %s to %s, which did not wait for it", from.Action, r.Action)
		}
	}
	shares, gap := pathShares(step, path)
	var sum time.Duration
	for _, s := range shares {
		sum += s
	}
	if sum+gap != step.PipelineSpan() {
		t.Errorf("shares %v + gaps %v = %v, want the span %v", sum, gap, sum+gap, step.PipelineSpan())
	}
	// The example has fixed costs and no gaps: the path is all compute and copies.
	if gap != 0 {
		t.Errorf("gap %v on a step with none", gap)
	}
}

// Interleaved: each device holds two stages, and the path hops back and
// forth between the devices as the micro-batch goes through the stages.
func TestCriticalPathSeveralStagesPerDevice(t *testing.T) {
	step := interleavedStep()
	got := pathString(step, CriticalPath(step))
	want := "0:0F0 0:0SEND_F0 1:1RECV_F0 1:1F0 1:1SEND_F0 0:2RECV_F0 0:2F0 0:2SEND_F0 1:3RECV_F0 1:3F0 1:3B0 1:3SEND_B0 0:2RECV_B0 0:2B0"
	if got != want {
		t.Errorf("critical path\n got %s\nwant %s", got, want)
	}
}

// interleavedStep is one micro-batch through four stages on two devices
// (stages 0 and 2 on device 0, 1 and 3 on device 1), forward then the first
// backward, 1 ms per compute action, 0.1 ms per copy; every receive waits.
func interleavedStep() *Step {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	return &Step{Time: ms(6.9), Records: [][]Record{
		{
			{Action: schedule.Action{Stage: 0, Kind: schedule.F, Microbatch: 0}, Start: 0, End: ms(1)},
			{Action: schedule.Action{Stage: 0, Kind: schedule.SendF, Microbatch: 0}, Start: ms(1), End: ms(1.1)},
			{Action: schedule.Action{Stage: 2, Kind: schedule.RecvF, Microbatch: 0}, Start: ms(1.1), End: ms(2.4), Wait: ms(1.2)},
			{Action: schedule.Action{Stage: 2, Kind: schedule.F, Microbatch: 0}, Start: ms(2.4), End: ms(3.4)},
			{Action: schedule.Action{Stage: 2, Kind: schedule.SendF, Microbatch: 0}, Start: ms(3.4), End: ms(3.5)},
			{Action: schedule.Action{Stage: 2, Kind: schedule.RecvB, Microbatch: 0}, Start: ms(3.5), End: ms(5.8), Wait: ms(2.2)},
			{Action: schedule.Action{Stage: 2, Kind: schedule.B, Microbatch: 0}, Start: ms(5.9), End: ms(6.9)}, // 0.1 ms gap before it
		},
		{
			{Action: schedule.Action{Stage: 1, Kind: schedule.RecvF, Microbatch: 0}, Start: 0, End: ms(1.2), Wait: ms(1.1)},
			{Action: schedule.Action{Stage: 1, Kind: schedule.F, Microbatch: 0}, Start: ms(1.2), End: ms(2.2)},
			{Action: schedule.Action{Stage: 1, Kind: schedule.SendF, Microbatch: 0}, Start: ms(2.2), End: ms(2.3)},
			{Action: schedule.Action{Stage: 3, Kind: schedule.RecvF, Microbatch: 0}, Start: ms(2.3), End: ms(3.6), Wait: ms(1.2)},
			{Action: schedule.Action{Stage: 3, Kind: schedule.F, Microbatch: 0}, Start: ms(3.6), End: ms(4.6)},
			{Action: schedule.Action{Stage: 3, Kind: schedule.B, Microbatch: 0}, Start: ms(4.6), End: ms(5.6)},
			{Action: schedule.Action{Stage: 3, Kind: schedule.SendB, Microbatch: 0}, Start: ms(5.6), End: ms(5.7)},
		},
	}}
}

func TestCriticalPathEmptyAndMalformed(t *testing.T) {
	if p := CriticalPath(nil); p != nil {
		t.Errorf("nil step: path %v", p)
	}
	if p := CriticalPath(&Step{Records: [][]Record{{{Action: schedule.Action{Stage: 0, Kind: schedule.Step, Microbatch: -1}, End: 1}}, {}}}); p != nil {
		t.Errorf("no compute: path %v", p)
	}
	// A receive that claims to wait on a send recorded after it, on a device
	// whose earlier action waits on the first: a cycle, which must end.
	ms := time.Millisecond
	step := &Step{Records: [][]Record{
		{
			{Action: schedule.Action{Stage: 0, Kind: schedule.RecvB, Microbatch: 0}, Start: 0, End: ms, Wait: ms},
			{Action: schedule.Action{Stage: 0, Kind: schedule.SendF, Microbatch: 0}, Start: ms, End: 2 * ms},
		},
		{
			{Action: schedule.Action{Stage: 1, Kind: schedule.RecvF, Microbatch: 0}, Start: 0, End: 2 * ms, Wait: 2 * ms},
			{Action: schedule.Action{Stage: 1, Kind: schedule.SendB, Microbatch: 0}, Start: 2 * ms, End: 3 * ms},
			{Action: schedule.Action{Stage: 1, Kind: schedule.F, Microbatch: 0}, Start: 3 * ms, End: 4 * ms},
		},
	}}
	if p := CriticalPath(step); len(p) == 0 || len(p) > 5 {
		t.Errorf("cyclic records: path %s", pathString(step, p))
	}
}
