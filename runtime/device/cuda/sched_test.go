//go:build cuda

// Schedules over SM partitions with stand-in stages (the busy kernel instead of the transformer): measured idle against the analytic bubble, and 300 steps without growth.

package cuda

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"baton/kernels"
	"baton/runtime/device"
	"baton/runtime/report"
	"baton/runtime/schedule"
)

// standIn runs a lowered schedule the way the executor does (one time base
// for the step, events around every action, a receive records, waits on the
// producer's event, records again), with the busy kernel as every stage's
// compute: a forward costs itersF, a full backward twice that, a split
// backward's I and W one each.
type standIn struct {
	devs   []*Device
	sched  *schedule.Schedule // lowered
	busy   []*busy
	itersF int64
	out    []kernels.Buffer // per stage: what it sends forward
	in     []kernels.Buffer // per stage: where the activation lands
	dIn    []kernels.Buffer // per stage: the gradient it sends back
	dOut   []kernels.Buffer // per stage: where the gradient lands
}

// newStandIn opens list (one stage per device) under the named schedule.
// Activations of actFloats floats pass between stages.
func newStandIn(tb testing.TB, list, name string, m int, f time.Duration, actFloats int) *standIn {
	tb.Helper()
	devs := openDevices(tb, list)
	sched, err := schedule.GenerateChunks(name, len(devs), m, 1)
	if err != nil {
		tb.Fatal(err)
	}
	lowered := schedule.Lower(sched)
	if err := schedule.Validate(lowered); err != nil {
		tb.Fatal(err)
	}
	s := &standIn{devs: devs, sched: lowered}
	for _, d := range devs {
		s.busy = append(s.busy, newBusy(tb, d))
		ops := d.Ops()
		s.out = append(s.out, ops.Alloc(actFloats))
		s.in = append(s.in, ops.Alloc(actFloats))
		s.dIn = append(s.dIn, ops.Alloc(actFloats))
		s.dOut = append(s.dOut, ops.Alloc(actFloats))
	}
	s.itersF = s.busy[0].calibrate(tb, f)
	return s
}

// mailKey names the receive an event is for.
type mailKey struct {
	kind              schedule.Kind
	stage, microbatch int
}

// timedAction is an action and the events around it (w0, w1 around a
// receive's wait).
type timedAction struct {
	action             schedule.Action
	start, end, w0, w1 device.Event
}

// step runs one step and returns its records, timed as the executor times them.
func (s *standIn) step(tb testing.TB) *report.Step {
	lists := s.sched.Lists
	mail := map[mailKey]chan device.Event{}
	for _, l := range lists {
		for _, a := range l {
			if a.Kind == schedule.RecvF || a.Kind == schedule.RecvB {
				mail[mailKey{a.Kind, a.Stage, a.Microbatch}] = make(chan device.Event, 1)
			}
		}
	}
	origins, arrivals := s.origins()
	timed := make([][]timedAction, len(lists))
	errs := make([]error, len(lists))
	var wg sync.WaitGroup
	for d := range lists {
		wg.Go(func() { timed[d], errs[d] = s.run(tb, d, mail) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
	return s.times(origins, arrivals, timed)
}

// origins aligns the devices' timelines as the executor does: each records
// its arrival, every stream waits for all arrivals, then records its origin.
func (s *standIn) origins() (origins, arrivals []device.Event) {
	arrivals = make([]device.Event, len(s.devs))
	for d, dev := range s.devs {
		dev.Sync()
		arrivals[d] = dev.Record()
	}
	origins = make([]device.Event, len(s.devs))
	for d, dev := range s.devs {
		for _, e := range arrivals {
			dev.Wait(e)
		}
		origins[d] = dev.Record()
	}
	return origins, arrivals
}

// run issues device d's actions, as its executor worker would.
func (s *standIn) run(tb testing.TB, d int, mail map[mailKey]chan device.Event) ([]timedAction, error) {
	dev := s.devs[d]
	defer dev.Bind()()
	var out []timedAction
	for _, a := range s.sched.Lists[d] {
		rec := timedAction{action: a, start: dev.Record()}
		switch a.Kind {
		case schedule.F, schedule.I, schedule.W:
			s.busy[a.Stage].launch(tb, s.itersF)
		case schedule.B:
			s.busy[a.Stage].launch(tb, 2*s.itersF)
		case schedule.SendF:
			dev.CopyTo(s.devs[a.Stage+1], s.in[a.Stage+1], s.out[a.Stage])
			mail[mailKey{schedule.RecvF, a.Stage + 1, a.Microbatch}] <- dev.Record()
		case schedule.SendB:
			dev.CopyTo(s.devs[a.Stage-1], s.dOut[a.Stage-1], s.dIn[a.Stage])
			mail[mailKey{schedule.RecvB, a.Stage - 1, a.Microbatch}] <- dev.Record()
		case schedule.RecvF, schedule.RecvB:
			rec.w0 = rec.start
			select {
			case ev := <-mail[mailKey{a.Kind, a.Stage, a.Microbatch}]:
				dev.Wait(ev)
			case <-time.After(time.Minute):
				return nil, fmt.Errorf("%s: %s waited a minute", dev.Name(), a)
			}
			rec.w1 = dev.Record()
		case schedule.Step:
		}
		rec.end = dev.Record()
		out = append(out, rec)
	}
	return out, nil
}

// times turns each device's events into times from its origin, then
// returns every event of the step to its device's pool.
func (s *standIn) times(origins, arrivals []device.Event, timed [][]timedAction) *report.Step {
	step := &report.Step{Records: make([][]report.Record, len(timed))}
	for d, recs := range timed {
		dev := s.devs[d]
		dev.Sync()
		for _, rec := range recs {
			r := report.Record{Action: rec.action, Start: dev.Elapsed(origins[d], rec.start), End: dev.Elapsed(origins[d], rec.end)}
			if rec.w0 != nil {
				r.Wait = dev.Elapsed(rec.w0, rec.w1)
			}
			step.Records[d] = append(step.Records[d], r)
			step.Time = max(step.Time, r.End)
			for _, e := range []device.Event{rec.start, rec.end, rec.w1} {
				if e != nil {
					dev.Release(e)
				}
			}
		}
		dev.Release(origins[d])
		dev.Release(arrivals[d])
	}
	return step
}

// TestCUDASchedulesIdle runs naive, gpipe and 1f1b over cuda:0/4 with equal
// stand-in stages (forward 2 ms, backward 4 ms) and compares the idle time
// measured on every partition with the analytic bubble: naive (p−1)/p,
// gpipe and 1f1b (p−1)/(m+p−1). Margin: 0.05 of the step, for launches,
// events and the 1 MiB copies between stages.
func TestCUDASchedulesIdle(t *testing.T) {
	for _, name := range []string{"naive", "gpipe", "1f1b"} {
		t.Run(name, func(t *testing.T) {
			s := newStandIn(t, "cuda:0/4", name, 4, 2*time.Millisecond, 1<<18)
			needGreen(t, s.devs)
			needHardware(t, s.devs[0])
			s.step(t) // warm-up
			var steps []*report.Step
			for range 3 {
				steps = append(steps, s.step(t))
			}
			infos := make([]report.DeviceInfo, len(s.devs))
			for i, d := range s.devs {
				_, peak := d.Memory()
				infos[i] = report.DeviceInfo{Name: d.Name(), Layers: fmt.Sprint(i), PeakBytes: peak}
			}
			rep, err := report.Build(s.sched, infos, steps)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range rep.PerDevice {
				t.Logf("%s: compute %.2f ms, idle %.2f ms (%.1f%%), wait prev %.2f ms, wait next %.2f ms, transfer %.3f ms",
					d.Device, d.ComputeS*1e3, d.IdleS*1e3, d.IdleFrac*100, d.WaitPrevS*1e3, d.WaitNextS*1e3, d.TransferS*1e3)
			}
			t.Logf("%s, p=%d, m=%d: bubble measured %.3f, simulated %.3f, analytic %.3f; step %.2f ms",
				rep.Schedule, rep.Devices, rep.Microbatches, rep.BubbleMeasured, rep.BubbleSimulated, rep.BubbleAnalytic, rep.StepS*1e3)
			if math.Abs(rep.BubbleMeasured-rep.BubbleAnalytic) > 0.05 {
				t.Errorf("%s: measured bubble %.3f, analytic %.3f: more than 0.05 apart", name, rep.BubbleMeasured, rep.BubbleAnalytic)
			}
		})
	}
}

// TestCUDAStepsDoNotGrow runs 300 stand-in steps of 1f1b over cuda:0/2 and
// checks that nothing grows: the allocators' live bytes, the GPU's free
// memory (streams, events and buffers alike; within 4 MiB) and the number of
// events made (pooled: at most two collections' worth more than after the
// first steps). A step takes 112 events, so without reuse 300 steps make
// 33,600, twice that bound (a pool that never takes them back fails so).
func TestCUDAStepsDoNotGrow(t *testing.T) {
	s := newStandIn(t, "cuda:0/2", "1f1b", 4, 20*time.Microsecond, 1<<12)
	type snapshot struct {
		live       []int64
		free       int64
		made, outs int
	}
	snap := func() snapshot {
		var sn snapshot
		for _, d := range s.devs {
			live, _ := d.Memory()
			sn.live = append(sn.live, live)
			made, out := d.Events()
			sn.made += made
			sn.outs += out
		}
		free, _, err := s.devs[0].GPUMemory()
		if err != nil {
			t.Fatal(err)
		}
		sn.free = free
		return sn
	}
	for range 20 {
		s.step(t)
	}
	before := snap()
	start := time.Now()
	const steps = 300
	for range steps {
		s.step(t)
	}
	after := snap()
	t.Logf("%d steps in %v; before %+v, after %+v", steps, time.Since(start), before, after)
	for i := range after.live {
		if after.live[i] != before.live[i] {
			t.Errorf("%s: live bytes went from %d to %d", s.devs[i].Name(), before.live[i], after.live[i])
		}
	}
	if before.free-after.free > 4<<20 {
		t.Errorf("the GPU's free memory fell by %d bytes over %d steps", before.free-after.free, steps)
	}
	if after.made-before.made > 2*EventGCAt*len(s.devs) {
		t.Errorf("%d events made over %d steps (from %d to %d): they are not reused", after.made-before.made, steps, before.made, after.made)
	}
}
