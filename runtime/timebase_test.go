// One time base: a known delay in one device's forward shows, in full, as the next stage's wait, whatever else the host is doing.

package runtime

import (
	"bytes"
	"encoding/json"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"baton/kernels"
	"baton/runtime/device"
	"baton/runtime/report"
	"baton/runtime/schedule"
)

// sleepyOps sleeps inside the embedding's forward, so the first stage's F
// takes at least delay longer: a slow device, seen from the executor.
type sleepyOps struct {
	kernels.Ops
	delay time.Duration
}

func (o sleepyOps) EncoderForward(out, inp, wte, wpe kernels.Buffer, B, T, C int) {
	time.Sleep(o.delay)
	o.Ops.EncoderForward(out, inp, wte, wpe, B, T, C)
}

// sleepyDevice is a CPU device whose kernels are sleepyOps.
type sleepyDevice struct {
	*device.CPU
	ops sleepyOps
}

func (d sleepyDevice) Ops() kernels.Ops { return d.ops }

// busy spins on every core but one until stop is closed, as another job on
// the host would.
func busy(stop chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	var sink atomic.Int64
	for range max(runtime.GOMAXPROCS(0)-1, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := int64(0); ; n++ {
				select {
				case <-stop:
					sink.Add(n)
					return
				default:
				}
			}
		}()
	}
	return &wg
}

// TestWaitEqualsTheDelayedForward: in a naive 2-stage run the second
// stage has nothing to do until the first stage's forward has run and its
// activation arrived, so its wait on the previous stage is that forward
// (and a send of a few microseconds), on every step. Before one time base,
// a worker that woke late measured its wait from its own late origin. The
// host can still start either worker late on a loaded machine, which moves
// the wait off the forward by that delay on the step it happens: one step in
// three may miss, and the median must be within 1%; a skewed clock misses on
// every step.
func TestWaitEqualsTheDelayedForward(t *testing.T) {
	const delay = 300 * time.Millisecond
	cpu0 := device.NewCPU("cpu:0")
	slow := sleepyDevice{CPU: cpu0, ops: sleepyOps{Ops: cpu0.Ops(), delay: delay}}
	pl := pipelineOn(t, eqModel, "naive", []device.Device{slow, device.NewCPU("cpu:1")}, 1, 1, eqBatch)
	stop := make(chan struct{})
	spinning := busy(stop)
	defer func() { close(stop); spinning.Wait() }()
	var gaps []float64
	for step := range 3 {
		res := pl.step(t)
		var fwd, wait time.Duration
		for _, r := range res.Records[0] {
			if r.Action.Kind == schedule.F {
				fwd = r.End - r.Start
			}
		}
		for _, r := range res.Records[1] {
			if r.Action.Kind == schedule.RecvF {
				wait = r.Wait
			}
		}
		if fwd < delay {
			t.Fatalf("step %d: the delayed forward took %v, less than its %v sleep", step, fwd, delay)
		}
		gap := float64((wait - fwd).Abs()) / float64(fwd)
		t.Logf("step %d: stage 1 waited %v on a forward of %v: %.2f%% apart", step, wait, fwd, 100*gap)
		gaps = append(gaps, gap)
		if res.ClockSkew != 0 {
			t.Errorf("step %d: clock skew %v between CPU devices, which share one clock", step, res.ClockSkew)
		}
	}
	slices.Sort(gaps)
	if median := gaps[1]; median > 0.01 {
		t.Errorf("stage 1's wait and stage 0's forward were %.2f%% apart at the median of 3 steps, want within 1%%", 100*median)
	}
}

// TestReceivesEndAfterTheirSends: on one time base no receive's wait ends
// before the send it waited for, in any schedule.
func TestReceivesEndAfterTheirSends(t *testing.T) {
	for _, name := range []string{"gpipe", "1f1b", "zb-h1"} {
		pl := newPipeline(t, eqModel, name, 4, 4, eqBatch)
		res := pl.step(t)
		sends := map[schedule.Action]time.Duration{}
		for _, recs := range res.Records {
			for _, r := range recs {
				if r.Action.Kind == schedule.SendF || r.Action.Kind == schedule.SendB {
					sends[r.Action] = r.End
				}
			}
		}
		for d, recs := range res.Records {
			for _, r := range recs {
				if r.Action.Kind != schedule.RecvF && r.Action.Kind != schedule.RecvB {
					continue
				}
				from := schedule.Action{Stage: r.Action.Stage - 1, Kind: schedule.SendF, Microbatch: r.Action.Microbatch}
				if r.Action.Kind == schedule.RecvB {
					from = schedule.Action{Stage: r.Action.Stage + 1, Kind: schedule.SendB, Microbatch: r.Action.Microbatch}
				}
				if end := r.Start + r.Wait; end < sends[from] {
					t.Errorf("%s: device %d's %s stopped waiting at %v, before %s ended at %v", name, d, r.Action, end, from, sends[from])
				}
			}
		}
	}
}

// TestTraceFlowsRunForward: in trace.json every flow arrow (a send to the
// receive that waited for it, on the critical path) points forward in time.
func TestTraceFlowsRunForward(t *testing.T) {
	pl := newPipeline(t, eqModel, "1f1b", 4, 8, eqBatch)
	var steps []*report.Step
	for range 3 {
		steps = append(steps, &pl.step(t).Step)
	}
	var buf bytes.Buffer
	if err := report.WriteTrace(&buf, device.Names(pl.devs), steps); err != nil {
		t.Fatal(err)
	}
	var trace struct {
		TraceEvents []struct {
			Ph string  `json:"ph"`
			Ts float64 `json:"ts"`
			ID int     `json:"id"`
		} `json:"traceEvents"`
	}
	if err := json.Unmarshal(buf.Bytes(), &trace); err != nil {
		t.Fatal(err)
	}
	starts, flows := map[int]float64{}, 0
	for _, e := range trace.TraceEvents {
		switch e.Ph {
		case "s":
			starts[e.ID] = e.Ts
		case "f":
			flows++
			if from, ok := starts[e.ID]; !ok || e.Ts < from {
				t.Errorf("flow %d ends at %.1f µs, before its start at %.1f µs", e.ID, e.Ts, from)
			}
		}
	}
	t.Logf("%d flow arrows", flows)
}
