// Tests of the SVG timeline on hand-made steps: well-formed XML, one rectangle per action.

package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"baton/runtime/schedule"
)

// tlExampleStep replays a 1F1B-like schedule over p devices and m
// micro-batches on fixed costs (forward 1 ms, backward 2 ms, copies 0.1 ms),
// giving the records an executor would: receives that wait, sends, a step.
func tlExampleStep(p, m int) *Step {
	const (
		fwd, bwd, cp, step = time.Millisecond, 2 * time.Millisecond, 100 * time.Microsecond, 500 * time.Microsecond
	)
	lists := make([][]schedule.Action, p)
	for d := range p {
		var l []schedule.Action
		add := func(k schedule.Kind, mb int) {
			switch {
			case k == schedule.F && d > 0:
				l = append(l, schedule.Action{Stage: d, Kind: schedule.RecvF, Microbatch: mb})
			case k == schedule.B && d < p-1:
				l = append(l, schedule.Action{Stage: d, Kind: schedule.RecvB, Microbatch: mb})
			}
			l = append(l, schedule.Action{Stage: d, Kind: k, Microbatch: mb})
			switch {
			case k == schedule.F && d < p-1:
				l = append(l, schedule.Action{Stage: d, Kind: schedule.SendF, Microbatch: mb})
			case k == schedule.B && d > 0:
				l = append(l, schedule.Action{Stage: d, Kind: schedule.SendB, Microbatch: mb})
			}
		}
		warm := min(p-1-d, m)
		for mb := range warm {
			add(schedule.F, mb)
		}
		for mb := range m - warm {
			add(schedule.F, warm+mb)
			add(schedule.B, mb)
		}
		for mb := m - warm; mb < m; mb++ {
			add(schedule.B, mb)
		}
		lists[d] = append(l, schedule.Action{Stage: d, Kind: schedule.Step, Microbatch: -1})
	}
	cost := map[schedule.Kind]time.Duration{schedule.F: fwd, schedule.B: bwd, schedule.SendF: cp, schedule.SendB: cp, schedule.RecvF: 20 * time.Microsecond, schedule.RecvB: 20 * time.Microsecond, schedule.Step: step}
	sent := map[schedule.Action]time.Duration{} // the receive an arrival is for → when it landed
	res := &Step{Records: make([][]Record, p)}
	clock, next := make([]time.Duration, p), make([]int, p)
	for progress := true; progress; {
		progress = false
		for d := range p {
			for next[d] < len(lists[d]) {
				a := lists[d][next[d]]
				r := Record{Action: a, Start: clock[d]}
				if a.Kind == schedule.RecvF || a.Kind == schedule.RecvB {
					at, ok := sent[a]
					if !ok {
						break
					}
					r.Wait = max(0, at-clock[d])
				}
				r.End = r.Start + r.Wait + cost[a.Kind]
				switch a.Kind {
				case schedule.SendF:
					sent[schedule.Action{Stage: d + 1, Kind: schedule.RecvF, Microbatch: a.Microbatch}] = r.End
				case schedule.SendB:
					sent[schedule.Action{Stage: d - 1, Kind: schedule.RecvB, Microbatch: a.Microbatch}] = r.End
				}
				clock[d] = r.End
				res.Time = max(res.Time, r.End)
				res.Records[d] = append(res.Records[d], r)
				next[d]++
				progress = true
			}
		}
	}
	return res
}

func tlDeviceNames(p int) []string {
	out := make([]string, p)
	for d := range out {
		out[d] = fmt.Sprintf("cpu:%d", d)
	}
	return out
}

// tlRect is what the tests read back from a rect element.
type tlRect struct{ class, action string }

// tlParseSVG checks that the document is well-formed XML and returns its
// rects and the text of its text elements.
func tlParseSVG(t *testing.T, b []byte) (rects []tlRect, texts []string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	inText := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return rects, texts
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, b)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if e.Name.Local == "rect" {
				var r tlRect
				for _, at := range e.Attr {
					switch at.Name.Local {
					case "class":
						r.class = at.Value
					case "data-action":
						r.action = at.Value
					}
				}
				rects = append(rects, r)
			}
			inText = e.Name.Local == "text"
		case xml.EndElement:
			inText = false
		case xml.CharData:
			if inText {
				texts = append(texts, string(e))
			}
		}
	}
}

func TestTimelineOneRectPerAction(t *testing.T) {
	step := tlExampleStep(4, 8)
	devs := tlDeviceNames(4)
	var buf bytes.Buffer
	if err := WriteTimeline(&buf, devs, step, "1f1b, 4 devices, 8 micro-batches — bubble <27%> & more"); err != nil {
		t.Fatal(err)
	}
	rects, texts := tlParseSVG(t, buf.Bytes())

	want := map[string]int{} // class → rects expected
	var compute []string
	for _, recs := range step.Records {
		for _, r := range recs {
			switch k := r.Action.Kind; {
			case k.IsCompute() || k == schedule.Step:
				want[tlCompute[k].class]++
				if k.IsCompute() {
					compute = append(compute, r.Action.String())
				}
			case k == schedule.RecvF && r.Wait > 0:
				want["wait-prev"]++
			case k == schedule.RecvB && r.Wait > 0:
				want["wait-next"]++
			}
		}
	}
	got := map[string]int{}
	var gotCompute []string
	for _, r := range rects {
		if r.action == "" {
			continue // background, idle rows, legend
		}
		got[r.class]++
		if a, err := schedule.ParseAction(r.action); err != nil {
			t.Errorf("data-action %q: %v", r.action, err)
		} else if a.Kind.IsCompute() {
			gotCompute = append(gotCompute, r.action)
		}
	}
	if len(gotCompute) != len(compute) {
		t.Errorf("%d compute rects, want one per compute action: %d", len(gotCompute), len(compute))
	}
	for class, n := range want {
		if got[class] != n {
			t.Errorf("%d rects of class %q, want %d", got[class], class, n)
		}
	}
	if want["wait-prev"] == 0 || want["wait-next"] == 0 {
		t.Fatalf("the example step should wait both ways: %v", want)
	}
	if got["idle"] != 0 {
		t.Errorf("idle backgrounds carry no action")
	}
	all := strings.Join(texts, "\n")
	for _, s := range append(devs, "1f1b, 4 devices, 8 micro-batches — bubble <27%> & more", "time (ms)", "idle", "wait on previous stage", "wait on next stage") {
		if !strings.Contains(all, s) {
			t.Errorf("no text %q in the SVG", s)
		}
	}
	if !strings.Contains(buf.String(), "&lt;27%&gt; &amp; more") {
		t.Errorf("title not escaped")
	}
	if p := os.Getenv("BATON_TIMELINE_SVG"); p != "" {
		// For looking at: BATON_TIMELINE_SVG=/tmp/t.svg go test -run Timeline ./runtime/
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTimelineIdleIsBackground(t *testing.T) {
	// One device works, the other only waits: the idle row must still be drawn.
	step := &Step{Time: 3 * time.Millisecond, Records: [][]Record{
		{{Action: schedule.Action{Stage: 0, Kind: schedule.F, Microbatch: 0}, Start: 0, End: time.Millisecond}, {Action: schedule.Action{Stage: 0, Kind: schedule.Step, Microbatch: -1}, Start: 2 * time.Millisecond, End: 3 * time.Millisecond}},
		{},
	}}
	var buf bytes.Buffer
	if err := WriteTimeline(&buf, []string{"cuda:0/2", "cuda:0/2#1"}, step, "two"); err != nil {
		t.Fatal(err)
	}
	rects, _ := tlParseSVG(t, buf.Bytes())
	idle, steps := 0, 0
	for _, r := range rects {
		switch r.class {
		case "idle":
			idle++
		case "step":
			steps++
		}
	}
	if idle != 2 || steps != 1 {
		t.Errorf("%d idle rows and %d step rects, want 2 and 1", idle, steps)
	}
}

func TestTimelineEmptyAndErrors(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTimeline(&buf, nil, &Step{}, "empty"); err != nil {
		t.Fatal(err)
	}
	tlParseSVG(t, buf.Bytes())
	if err := WriteTimeline(io.Discard, []string{"cpu:0"}, tlExampleStep(2, 2), "x"); err == nil {
		t.Error("no error with fewer device names than devices")
	}
	if err := WriteTimeline(io.Discard, nil, nil, "x"); err == nil {
		t.Error("no error for a nil step")
	}
}

func TestTimelineNiceTick(t *testing.T) {
	for _, c := range []struct {
		raw  float64
		want float64
		dec  int
	}{{0.9, 1, 0}, {1, 1, 0}, {1.3, 2, 0}, {3, 5, 0}, {7, 10, 0}, {12, 20, 0}, {0.03, 0.05, 2}, {0.11, 0.2, 1}, {250, 500, 0}, {0, 1, 0}} {
		got, dec := tlNiceTick(c.raw)
		if got < c.want*(1-1e-9) || got > c.want*(1+1e-9) || dec != c.dec {
			t.Errorf("tlNiceTick(%v) = %v, %d; want %v, %d", c.raw, got, dec, c.want, c.dec)
		}
	}
}

func TestTimelineCriticalPath(t *testing.T) {
	step := traceTwoStageStep()
	var buf bytes.Buffer
	if err := WriteTimeline(&buf, []string{"cuda:0", "cuda:1"}, step, "naive"); err != nil {
		t.Fatal(err)
	}
	rects, texts := tlParseSVG(t, buf.Bytes())
	outlines := 0
	for _, r := range rects {
		if r.class == "critical" {
			outlines++
		}
	}
	// 0F0 1F0 1B0 0B0 are on the path; the steps are not.
	if outlines != 4 {
		t.Errorf("%d critical outlines, want 4", outlines)
	}
	elems := svgElements(buf.Bytes())
	var marked []string
	for _, r := range elems["rect"] {
		if r["data-critical"] == "true" {
			marked = append(marked, r["data-action"])
		}
	}
	hops := 0
	for _, l := range elems["line"] {
		if l["class"] == "hop" {
			hops++
		}
	}
	if got, want := strings.Join(marked, " "), "0F0 0B0 1F0 1B0"; got != want {
		t.Errorf("compute rects marked critical: %s, want %s", got, want)
	}
	if hops != 2 {
		t.Errorf("%d hops drawn, want 2 (the forward and the backward handover)", hops)
	}
	if !strings.Contains(strings.Join(texts, "\n"), "critical path") {
		t.Errorf("no critical path in the legend")
	}
}
