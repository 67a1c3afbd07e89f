// Tests of the Chrome trace writer on hand-made steps, read back as JSON.

package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"testing"
	"time"

	"baton/runtime/schedule"
)

type tracedEvent struct {
	Name string         `json:"name"`
	Cat  string         `json:"cat"`
	Ph   string         `json:"ph"`
	Ts   float64        `json:"ts"`
	Dur  *float64       `json:"dur"`
	Pid  int            `json:"pid"`
	Tid  int            `json:"tid"`
	Args map[string]any `json:"args"`
}

func traceRead(t *testing.T, devices []string, steps []*Step) []tracedEvent {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteTrace(&buf, devices, steps); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		TraceEvents []tracedEvent `json:"traceEvents"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("trace is not valid JSON: %v\n%s", err, buf.Bytes())
	}
	return doc.TraceEvents
}

// traceTwoStageStep: stage 0 computes forward, stage 1 waits for it, then the
// gradient comes back and stage 0 waits for that.
func traceTwoStageStep() *Step {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	return &Step{Time: ms(5), Records: [][]Record{
		{
			{Action: schedule.Action{Stage: 0, Kind: schedule.F, Microbatch: 0}, Start: 0, End: ms(1)},
			{Action: schedule.Action{Stage: 0, Kind: schedule.SendF, Microbatch: 0}, Start: ms(1), End: ms(1.1)},
			{Action: schedule.Action{Stage: 0, Kind: schedule.RecvB, Microbatch: 0}, Start: ms(1.1), End: ms(3.3), Wait: ms(2.1)},
			{Action: schedule.Action{Stage: 0, Kind: schedule.B, Microbatch: 0}, Start: ms(3.3), End: ms(4.5)},
			{Action: schedule.Action{Stage: 0, Kind: schedule.Step, Microbatch: -1}, Start: ms(4.5), End: ms(5)},
		},
		{
			{Action: schedule.Action{Stage: 1, Kind: schedule.RecvF, Microbatch: 0}, Start: 0, End: ms(1.2), Wait: ms(1.1)},
			{Action: schedule.Action{Stage: 1, Kind: schedule.F, Microbatch: 0}, Start: ms(1.2), End: ms(2.2)},
			{Action: schedule.Action{Stage: 1, Kind: schedule.B, Microbatch: 0}, Start: ms(2.2), End: ms(3.1)},
			{Action: schedule.Action{Stage: 1, Kind: schedule.SendB, Microbatch: 0}, Start: ms(3.1), End: ms(3.2)},
			{Action: schedule.Action{Stage: 1, Kind: schedule.Step, Microbatch: -1}, Start: ms(3.2), End: ms(3.6)},
		},
	}}
}

func traceNear(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestTraceTracksAndMetadata(t *testing.T) {
	evs := traceRead(t, []string{"cuda:0", "cuda:1"}, []*Step{traceTwoStageStep()})
	names, sorts := map[int]string{}, map[int]float64{}
	process := ""
	for _, e := range evs {
		if e.Ph != "M" {
			continue
		}
		switch e.Name {
		case "process_name":
			process, _ = e.Args["name"].(string)
		case "thread_name":
			names[e.Tid], _ = e.Args["name"].(string)
		case "thread_sort_index":
			sorts[e.Tid], _ = e.Args["sort_index"].(float64)
		}
	}
	if process != "baton" {
		t.Errorf("process name %q, want baton", process)
	}
	if names[0] != "cuda:0" || names[1] != "cuda:1" || names[2] != "critical path" || names[3] != "steps" || len(names) != 4 {
		t.Errorf("thread names %v", names)
	}
	if sorts[0] != 0 || sorts[1] != 1 || sorts[2] != 2 || sorts[3] != 3 || len(sorts) != 4 {
		t.Errorf("thread sort indexes %v", sorts)
	}
}

func TestTraceSlices(t *testing.T) {
	s1, s2 := traceTwoStageStep(), traceTwoStageStep()
	s1.Number, s2.Number = 1, 2
	evs := traceRead(t, []string{"cuda:0", "cuda:1"}, []*Step{s1, s2})
	type key struct {
		name string
		tid  int
		step float64
	}
	slices := map[key]tracedEvent{}
	for _, e := range evs {
		if e.Ph != "X" {
			continue
		}
		if e.Dur == nil || e.Pid != tracePid {
			t.Errorf("%s: dur %v pid %d", e.Name, e.Dur, e.Pid)
			continue
		}
		st, _ := e.Args["step"].(float64)
		k := key{e.Name, e.Tid, st}
		if _, dup := slices[k]; dup {
			t.Errorf("slice %v twice", k)
		}
		slices[k] = e
	}
	if want := 2 * (10 + 2 + 8 + 1); len(slices) != want {
		t.Errorf("%d slices, want %d (10 records, 2 waits, 8 critical-path actions and the step's own per step)", len(slices), want)
	}
	for _, c := range []struct {
		name      string
		tid       int
		step      float64
		cat       string
		ts, dur   float64
		stage, mb float64
	}{
		{"0F0", 0, 1, "forward", 0, 1000, 0, 0},
		{"1F0", 1, 2, "forward", 5000 + 1200, 1000, 1, 0},
		{"0SEND_F0", 0, 2, "send", 5000 + 1000, 100, 0, 0},
		{"1RECV_F0", 1, 1, "recv", 0, 1200, 1, 0},
		{"wait prev", 1, 1, "wait", 0, 1100, 1, 0},
		{"0RECV_B0", 0, 2, "recv", 5000 + 1100, 2200, 0, 0},
		{"wait next", 0, 2, "wait", 5000 + 1100, 2100, 0, 0},
		{"1B0", 1, 1, "backward", 2200, 900, 1, 0},
		{"0STEP", 0, 2, "step", 5000 + 4500, 500, 0, -1},
	} {
		e, ok := slices[key{c.name, c.tid, c.step}]
		if !ok {
			t.Errorf("no slice %s on track %d in step %v", c.name, c.tid, c.step)
			continue
		}
		if e.Cat != c.cat || !traceNear(e.Ts, c.ts) || !traceNear(*e.Dur, c.dur) {
			t.Errorf("%s step %v: cat %q ts %v dur %v; want %q %v %v", c.name, c.step, e.Cat, e.Ts, *e.Dur, c.cat, c.ts, c.dur)
		}
		if e.Args["stage"] != c.stage || e.Args["microbatch"] != c.mb {
			t.Errorf("%s: args %v; want stage %v micro-batch %v", c.name, e.Args, c.stage, c.mb)
		}
	}
	for n, ts := range []float64{0, 5000} { // each step's own slice on the steps track, to find it by
		e, ok := slices[key{fmt.Sprintf("step %d", n+1), 3, float64(n + 1)}]
		if !ok || e.Cat != "step" || !traceNear(e.Ts, ts) || !traceNear(*e.Dur, 5000) {
			t.Errorf("step %d's slice on the steps track: %+v (found %v); want at %v µs for 5000", n+1, e, ok, ts)
		}
	}
	if w := slices[key{"1RECV_F0", 1, 1}].Args["wait_us"]; w != 1100.0 {
		t.Errorf("1RECV_F0 wait_us %v, want 1100", w)
	}
	if _, ok := slices[key{"1F0", 1, 1}].Args["wait_us"]; ok {
		t.Errorf("a forward has wait_us")
	}
}

func TestTraceNoWaitNoWaitSlice(t *testing.T) {
	s := &Step{Time: time.Millisecond, Records: [][]Record{{}, {{Action: schedule.Action{Stage: 1, Kind: schedule.RecvF, Microbatch: 0}, End: time.Millisecond}}}}
	for _, e := range traceRead(t, []string{"a", "b"}, []*Step{s}) {
		if e.Cat == "wait" {
			t.Errorf("wait slice %v for a receive that did not wait", e)
		}
		if e.Name == "1RECV_F0" && e.Args["wait_us"] != 0.0 {
			t.Errorf("wait_us %v, want 0", e.Args["wait_us"])
		}
	}
}

func TestTraceErrors(t *testing.T) {
	if err := WriteTrace(io.Discard, []string{"cpu:0"}, []*Step{traceTwoStageStep()}); err == nil {
		t.Error("no error with fewer device names than devices")
	}
	if err := WriteTrace(io.Discard, []string{"cpu:0"}, []*Step{nil}); err == nil {
		t.Error("no error for a nil step")
	}
	// No steps is an empty trace, still valid.
	traceRead(t, []string{"cpu:0"}, nil)
}

func TestTraceCriticalPath(t *testing.T) {
	s := traceTwoStageStep()
	evs := traceRead(t, []string{"cuda:0", "cuda:1"}, []*Step{s, s})
	critical := map[string]int{} // "name on tid" → count over both steps
	var track []tracedEvent
	for _, e := range evs {
		switch {
		case e.Ph == "X" && e.Tid == 2:
			track = append(track, e)
		case e.Ph == "X" && e.Args["critical"] == true:
			critical[fmt.Sprintf("%s on %d", e.Name, e.Tid)]++
		}
	}
	want := []string{"0F0 on 0", "0SEND_F0 on 0", "1RECV_F0 on 1", "1F0 on 1", "1B0 on 1", "1SEND_B0 on 1", "0RECV_B0 on 0", "0B0 on 0"}
	for _, w := range want {
		if critical[w] != 2 {
			t.Errorf("%s marked critical in %d steps, want 2", w, critical[w])
		}
	}
	if len(critical) != len(want) {
		t.Errorf("critical slices %v, want %v", critical, want)
	}
	// The track tiles each step: every slice starts where the one before ended.
	if len(track) != 2*len(want) {
		t.Fatalf("%d slices on the critical path track, want %d", len(track), 2*len(want))
	}
	at := 0.0
	for i, e := range track {
		if i == len(want) {
			at = 5000 // the second step starts where the first ended
		}
		if !traceNear(e.Ts, at) {
			t.Errorf("path slice %d (%s) starts at %v, want %v", i, e.Name, e.Ts, at)
		}
		at = e.Ts + *e.Dur
	}
	if !traceNear(at, 5000+4500) {
		t.Errorf("the path ends at %v, want 9500", at)
	}
	if track[2].Name != "1RECV_F0" || !traceNear(*track[2].Dur, 100) {
		t.Errorf("a receive that waited shows only its copy on the track: %s %v µs", track[2].Name, *track[2].Dur)
	}
}

func TestTraceCriticalPathFlows(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTrace(&buf, []string{"cuda:0", "cuda:1"}, []*Step{traceTwoStageStep()}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		TraceEvents []struct {
			Ph  string  `json:"ph"`
			Ts  float64 `json:"ts"`
			Tid int     `json:"tid"`
			ID  int     `json:"id"`
			BP  string  `json:"bp"`
		} `json:"traceEvents"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	type end struct {
		tid int
		ts  float64
	}
	starts, finishes := map[int]end{}, map[int]end{}
	for _, e := range doc.TraceEvents {
		switch e.Ph {
		case "s":
			starts[e.ID] = end{e.Tid, e.Ts}
		case "f":
			if e.BP != "e" {
				t.Errorf("flow end %d binds to the next slice, not the enclosing one", e.ID)
			}
			finishes[e.ID] = end{e.Tid, e.Ts}
		}
	}
	// Two hops: 0SEND_F0 [1, 1.1] → 1RECV_F0's copy [1.1, 1.2]; 1SEND_B0 [3.1, 3.2] → 0RECV_B0's copy [3.2, 3.3].
	want := map[int][2]end{1: {{0, 1050}, {1, 1150}}, 2: {{1, 3150}, {0, 3250}}}
	if len(starts) != 2 || len(finishes) != 2 {
		t.Fatalf("flow starts %v, ends %v; want two hops", starts, finishes)
	}
	for id, w := range want {
		s, f := starts[id], finishes[id]
		if s.tid != w[0].tid || !traceNear(s.ts, w[0].ts) || f.tid != w[1].tid || !traceNear(f.ts, w[1].ts) {
			t.Errorf("flow %d from %v to %v, want %v to %v", id, s, f, w[0], w[1])
		}
	}
}
