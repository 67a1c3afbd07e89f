// Tests that the trace of several ranks' steps reads in Perfetto as it should: no negative times, no overlapping slices, arrows forward in time.

package report

import (
	"bytes"
	"encoding/json"
	"sort"
	"testing"
)

// traceFlowEvent is a trace event with the fields these tests read.
type traceFlowEvent struct {
	Name string   `json:"name"`
	Cat  string   `json:"cat"`
	Ph   string   `json:"ph"`
	Ts   float64  `json:"ts"`
	Dur  *float64 `json:"dur"`
	Tid  int      `json:"tid"`
	ID   int      `json:"id"`
}

func traceFlowRead(t *testing.T, steps []*Step) []traceFlowEvent {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteTrace(&buf, []string{"rank0/cpu:0", "rank1/cpu:0"}, steps); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		TraceEvents []traceFlowEvent `json:"traceEvents"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.TraceEvents
}

// TestTraceRanksStepsStayApart: steps whose records begin before their
// origin (rankStep: another rank's device began waiting earlier) give no
// negative time, and on every track each slice ends before the next one
// starts or nests inside it, as Perfetto needs of a thread's slices.
func TestTraceRanksStepsStayApart(t *testing.T) {
	evs := traceFlowRead(t, []*Step{rankStep(), rankStep(), rankStep()})
	tracks := map[int][]traceFlowEvent{}
	for _, e := range evs {
		if e.Ph == "M" {
			continue
		}
		if e.Ts < 0 {
			t.Errorf("%s %s at %v µs: a negative time", e.Ph, e.Name, e.Ts)
		}
		if e.Ph == "X" {
			tracks[e.Tid] = append(tracks[e.Tid], e)
		}
	}
	for tid, xs := range tracks {
		sort.SliceStable(xs, func(i, j int) bool {
			return xs[i].Ts < xs[j].Ts || xs[i].Ts == xs[j].Ts && *xs[i].Dur > *xs[j].Dur
		})
		var open []traceFlowEvent // the slices enclosing the current one
		for _, e := range xs {
			for len(open) > 0 && open[len(open)-1].Ts+*open[len(open)-1].Dur <= e.Ts+1e-6 {
				open = open[:len(open)-1]
			}
			if len(open) > 0 {
				if p := open[len(open)-1]; e.Ts+*e.Dur > p.Ts+*p.Dur+1e-6 {
					t.Errorf("track %d: %s [%v, %v] overlaps %s [%v, %v]", tid, e.Name, e.Ts, e.Ts+*e.Dur, p.Name, p.Ts, p.Ts+*p.Dur)
				}
			}
			open = append(open, e)
		}
	}
}

// TestTraceFlowsGoForward: each critical-path arrow starts no later than it
// ends, even where a send to another rank returned after its data landed.
func TestTraceFlowsGoForward(t *testing.T) {
	starts, ends := map[int]float64{}, map[int]float64{}
	for _, e := range traceFlowRead(t, []*Step{rankStep()}) {
		switch e.Ph {
		case "s":
			starts[e.ID] = e.Ts
		case "f":
			ends[e.ID] = e.Ts
		}
	}
	if len(starts) != 2 || len(ends) != 2 {
		t.Fatalf("%d flow starts and %d ends, want 2 and 2", len(starts), len(ends))
	}
	for id, s := range starts {
		if f, ok := ends[id]; !ok || f < s {
			t.Errorf("flow %d: starts at %v µs, ends at %v µs", id, s, f)
		}
	}
}
