// Chrome trace event JSON (trace.json) of executed steps: one track per device and one for the critical path, for Perfetto and chrome://tracing.

package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"baton/runtime/schedule"
)

// traceEvent is one entry of the trace event format's "traceEvents" array.
type traceEvent struct {
	Name string         `json:"name"`
	Cat  string         `json:"cat,omitempty"`
	Ph   string         `json:"ph"`
	Ts   float64        `json:"ts"`            // microseconds
	Dur  *float64       `json:"dur,omitempty"` // microseconds; complete events only, where 0 is meaningful
	Pid  int            `json:"pid"`
	Tid  int            `json:"tid"`
	ID   int            `json:"id,omitempty"` // flow events: the arrow's two ends share it
	BP   string         `json:"bp,omitempty"` // flow ends: "e" binds to the enclosing slice
	Args map[string]any `json:"args,omitempty"`
}

// tracePid is the one process every device's track belongs to.
const tracePid = 1

// traceCategory is the "cat" of an action: what Perfetto lets one filter on.
func traceCategory(k schedule.Kind) string {
	switch k {
	case schedule.F:
		return "forward"
	case schedule.B, schedule.I, schedule.W:
		return "backward"
	case schedule.SendF, schedule.SendB:
		return "send"
	case schedule.RecvF, schedule.RecvB:
		return "recv"
	case schedule.Step:
		return "step"
	}
	return k.String()
}

// traceWaitName names a receive's wait after the neighbour it waited on, as the report does.
func traceWaitName(k schedule.Kind) string {
	if k == schedule.RecvF {
		return "wait prev"
	}
	return "wait next"
}

func traceMicros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// WriteTrace writes steps as Chrome trace event JSON, one track per
// device named devices[d], the steps laid end to end: each starts where
// the steps before it ended, so a run reads as one continuous timeline.
// A step whose records begin before its origin (another rank's devices,
// moved onto rank 0's clock, may have begun waiting earlier) is moved
// later by that much, so that no slice has a negative time or overlaps
// the step before it on its track.
// Every slice's arg "step" is its step's Number, the run's count.
// A receive that waited gets a nested "wait prev" or "wait next" slice
// covering the wait, so the bubbles show as slices of their own. The
// critical path's slices have the arg "critical": true, each of its hops
// from a send to the receive that waited for it is a flow arrow, and a
// track "critical path" replays it as one row that tiles the step. A last
// track, "steps", has a slice per step ("step 12"), to find one by.
func WriteTrace(w io.Writer, devices []string, steps []*Step) error {
	for k, s := range steps {
		if s == nil {
			return fmt.Errorf("trace: step %d is nil", k)
		}
		if len(s.Records) > len(devices) {
			return fmt.Errorf("trace: step %d has records for %d devices but %d device names were given", k, len(s.Records), len(devices))
		}
	}
	bw := bufio.NewWriter(w)
	first := true
	emit := func(e traceEvent) error {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if !first {
			bw.WriteString(",\n")
		}
		first = false
		_, err = bw.Write(b)
		return err
	}
	// One event per line: large traces stay greppable and diffable.
	bw.WriteString("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n")
	if err := emit(traceEvent{Name: "process_name", Ph: "M", Pid: tracePid, Args: map[string]any{"name": "baton"}}); err != nil {
		return err
	}
	pathTid, stepsTid := len(devices), len(devices)+1
	for d, name := range append(devices[:len(devices):len(devices)], "critical path", "steps") { // a copy: the caller's slice stays as it is
		meta := []traceEvent{
			{Name: "thread_name", Ph: "M", Pid: tracePid, Tid: d, Args: map[string]any{"name": name}},
			{Name: "thread_sort_index", Ph: "M", Pid: tracePid, Tid: d, Args: map[string]any{"sort_index": d}},
		}
		for _, e := range meta {
			if err := emit(e); err != nil {
				return err
			}
		}
	}
	var origin time.Duration
	flowID := 0
	for _, s := range steps {
		from, end := s.extent()
		dur := traceMicros(end - from)
		step := traceEvent{Name: fmt.Sprintf("step %d", s.Number), Cat: "step", Ph: "X", Ts: traceMicros(origin), Dur: &dur,
			Pid: tracePid, Tid: stepsTid, Args: map[string]any{"step": s.Number}}
		if err := emit(step); err != nil {
			return err
		}
		origin -= from
		path := CriticalPath(s)
		critical := map[PathNode]bool{}
		for _, n := range path {
			critical[n] = true
		}
		for d, recs := range s.Records {
			for i, r := range recs {
				for _, e := range traceRecordEvents(r, d, s.Number, origin, critical[PathNode{d, i}]) {
					if err := emit(e); err != nil {
						return err
					}
				}
			}
		}
		for _, e := range tracePathEvents(s, path, devices, pathTid, origin, &flowID) {
			if err := emit(e); err != nil {
				return err
			}
		}
		origin += end
	}
	bw.WriteString("\n]}\n")
	return bw.Flush()
}

// traceRecordEvents turns one record of device d in step number k into its
// slice and, for a receive that waited, the wait slice nested at its start.
func traceRecordEvents(r Record, d, k int, origin time.Duration, critical bool) []traceEvent {
	a := r.Action
	args := map[string]any{"stage": a.Stage, "microbatch": a.Microbatch, "step": k}
	if critical {
		args["critical"] = true
	}
	dur := traceMicros(r.End - r.Start)
	ev := traceEvent{Name: a.String(), Cat: traceCategory(a.Kind), Ph: "X",
		Ts: traceMicros(origin + r.Start), Dur: &dur, Pid: tracePid, Tid: d, Args: args}
	isRecv := a.Kind == schedule.RecvF || a.Kind == schedule.RecvB
	if !isRecv {
		return []traceEvent{ev}
	}
	args["wait_us"] = traceMicros(r.Wait)
	if r.Wait <= 0 {
		return []traceEvent{ev}
	}
	// The executor times the wait from the receive's start, so the wait is
	// the receive's first part and nests inside it; clamped because Perfetto
	// drops slices that overhang their parent.
	wdur := traceMicros(min(r.Wait, r.End-r.Start))
	wait := traceEvent{Name: traceWaitName(a.Kind), Cat: "wait", Ph: "X", Ts: ev.Ts, Dur: &wdur, Pid: tracePid, Tid: d,
		Args: map[string]any{"stage": a.Stage, "microbatch": a.Microbatch, "step": k}}
	return []traceEvent{ev, wait}
}

// tracePathEvents are step s's critical path on its own track, each action
// cut to its share of the path so that the slices tile it without
// overlapping (a receive that waited shows only its copy), and a flow arrow
// from each send to the receive on another device that waited for it.
// Flow ids count up across steps through id.
func tracePathEvents(s *Step, path []PathNode, devices []string, tid int, origin time.Duration, id *int) []traceEvent {
	shares, _ := pathShares(s, path)
	var out []traceEvent
	for i, n := range path {
		r := s.Records[n.Device][n.Index]
		a := r.Action
		dur := traceMicros(shares[i])
		out = append(out, traceEvent{Name: a.String(), Cat: "critical", Ph: "X", Ts: traceMicros(origin + r.End - shares[i]), Dur: &dur,
			Pid: tracePid, Tid: tid, Args: map[string]any{"device": devices[n.Device], "stage": a.Stage, "microbatch": a.Microbatch, "step": s.Number}})
		if i == 0 || path[i-1].Device == n.Device {
			continue
		}
		// Each end sits inside its slice, clear of the nested wait slice,
		// so Perfetto binds the arrow to the send and the receive. A send to
		// another rank may end after its data landed (its record holds the
		// write's return): its end then sits before the copy starts, so the
		// arrow never points back in time.
		from := s.Records[path[i-1].Device][path[i-1].Index]
		copyStart := r.copyStart()
		at := (from.Start + from.End) / 2
		if copyStart > from.Start {
			at = min(at, (from.Start+copyStart)/2)
		}
		*id++
		out = append(out,
			traceEvent{Name: "critical path", Cat: "critical", Ph: "s", Ts: traceMicros(origin + at), Pid: tracePid, Tid: path[i-1].Device, ID: *id},
			traceEvent{Name: "critical path", Cat: "critical", Ph: "f", BP: "e", Ts: traceMicros(origin + (copyStart+r.End)/2), Pid: tracePid, Tid: n.Device, ID: *id})
	}
	return out
}
