// Tests of how the SVG timeline looks: everything on the canvas, outlines that leave the colours readable, arrows forward in time.

package report

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"strings"
	"testing"
	"time"

	"baton/runtime/schedule"
)

// rankStep is a step as the merged report of two ranks of one device each
// gives it: rank 1's device began waiting 0.5 ms before rank 0's origin,
// rank 0's send returned 0.4 ms after its data had landed on rank 1, and
// rank 1's optimizer step ends with the step.
func rankStep() *Step {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	act := func(stage int, k schedule.Kind) schedule.Action {
		return schedule.Action{Stage: stage, Kind: k, Microbatch: 0}
	}
	return &Step{Time: ms(4), Records: [][]Record{
		{
			{Action: act(0, schedule.F), Start: 0, End: ms(1)},
			{Action: act(0, schedule.SendF), Start: ms(1), End: ms(1.6)},
			{Action: act(0, schedule.RecvB), Start: ms(1.6), End: ms(3.2), Wait: ms(1.5)},
			{Action: act(0, schedule.B), Start: ms(3.2), End: ms(4)},
		},
		{
			{Action: act(1, schedule.RecvF), Start: ms(-0.5), End: ms(1.3), Wait: ms(1.7)},
			{Action: act(1, schedule.F), Start: ms(1.3), End: ms(2)},
			{Action: act(1, schedule.B), Start: ms(2), End: ms(3)},
			{Action: act(1, schedule.SendB), Start: ms(3), End: ms(3.1)},
			{Action: schedule.Action{Stage: 1, Kind: schedule.Step, Microbatch: -1}, Start: ms(3.1), End: ms(4)},
		},
	}}
}

// tlElements draws step and returns its elements' attributes, by element name.
func tlElements(t *testing.T, step *Step, devices []string, title string) map[string][]map[string]string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteTimeline(&buf, devices, step, title); err != nil {
		t.Fatal(err)
	}
	return svgElements(buf.Bytes())
}

// svgElements is the attributes of svg's elements, by element name in
// document order; a text element's text is its attribute "text".
func svgElements(svg []byte) map[string][]map[string]string {
	out := map[string][]map[string]string{}
	dec := xml.NewDecoder(bytes.NewReader(svg))
	for {
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		e, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		attrs := map[string]string{}
		for _, a := range e.Attr {
			attrs[a.Name.Local] = a.Value
		}
		if e.Name.Local == "text" {
			if tok, err := dec.Token(); err == nil {
				if cd, ok := tok.(xml.CharData); ok {
					attrs["text"] = string(cd)
				}
			}
		}
		out[e.Name.Local] = append(out[e.Name.Local], attrs)
	}
}

func tlAttr(t *testing.T, e map[string]string, name string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(e[name], 64)
	if err != nil {
		t.Fatalf("attribute %s=%q: %v", name, e[name], err)
	}
	return v
}

// TestTimelineRecordsBeforeTheOrigin: a device of another rank that began
// before rank 0's origin is drawn inside the plot, not over the device
// names, and the axis reaches back to it.
func TestTimelineRecordsBeforeTheOrigin(t *testing.T) {
	els := tlElements(t, rankStep(), []string{"rank0/cpu:0", "rank1/cpu:0"}, "two ranks")
	left := -1.0
	for _, r := range els["rect"] {
		if r["class"] == "idle" {
			left = tlAttr(t, r, "x")
		}
	}
	if left < 0 {
		t.Fatal("no idle background")
	}
	drawn := 0
	for _, r := range els["rect"] {
		if r["data-action"] == "" {
			continue
		}
		drawn++
		if x := tlAttr(t, r, "x"); x < left-0.01 {
			t.Errorf("%s (%s) starts at x=%v, left of the plot's edge %v: over the device names", r["data-action"], r["class"], x, left)
		}
	}
	if drawn == 0 {
		t.Fatal("no action drawn")
	}
	for _, tx := range els["text"] {
		if tx["text"] == "0" && tx["text-anchor"] == "middle" && tlAttr(t, tx, "x") < left+1 {
			t.Errorf("the 0 ms tick is at the plot's left edge: the axis does not reach back to the earliest record")
		}
	}
}

// TestTimelineHopsGoForward: the critical path's arrow from a send to the
// receive that waited for it never points back in time, even where the send
// to another rank returned after its data landed.
func TestTimelineHopsGoForward(t *testing.T) {
	els := tlElements(t, rankStep(), []string{"rank0/cpu:0", "rank1/cpu:0"}, "two ranks")
	hops := 0
	for _, l := range els["line"] {
		if l["class"] != "hop" {
			continue
		}
		hops++
		if x1, x2 := tlAttr(t, l, "x1"), tlAttr(t, l, "x2"); x1 > x2+0.01 {
			t.Errorf("hop x1=%v > x2=%v: the arrow points back in time", x1, x2)
		}
	}
	if hops != 2 {
		t.Errorf("%d hops, want 2", hops)
	}
}

// TestTimelineLongTitleStaysOnCanvas: a title too long for one line (as
// baton schedule --svg writes for the zero-bubble schedules) is wrapped onto
// several, all of it on the canvas and above the rows.
func TestTimelineLongTitleStaysOnCanvas(t *testing.T) {
	title := "zb-h2, 8 devices, 16 micro-batches, simulated with forward 1, backward 2: bubble 13% (analytic 13% = e/(3m+e), e = p-1+max(0,p-m)) and then some more words"
	els := tlElements(t, tlExampleStep(2, 2), []string{"cpu:0", "cpu:1"}, title)
	const minCharW = 8.0 // no narrower, on average, is a character of 15px bold sans-serif
	var lines []string
	lastY := 0.0
	for _, tx := range els["text"] {
		if tx["font-weight"] != "bold" {
			continue
		}
		lines = append(lines, tx["text"])
		lastY = tlAttr(t, tx, "y")
		if w := tlAttr(t, tx, "x") + minCharW*float64(len([]rune(tx["text"]))); w > tlWidth {
			t.Errorf("title line %q ends near x=%v, past the canvas's %d", tx["text"], w, tlWidth)
		}
	}
	if got := strings.Join(lines, " "); got != title {
		t.Errorf("title drawn as %q, want %q", got, title)
	}
	for _, r := range els["rect"] {
		if r["class"] == "idle" && tlAttr(t, r, "y") < lastY+4 {
			t.Errorf("a row starts at y=%v, under the title's last line at %v", tlAttr(t, r, "y"), lastY)
		}
	}
}

// TestTimelineNarrowCriticalShowsItsColour: on an action too narrow for an
// outline on four sides, the critical path strokes its top and bottom only,
// so its colour is not buried under black; wide actions keep the outline.
func TestTimelineNarrowCriticalShowsItsColour(t *testing.T) {
	us := func(f float64) time.Duration { return time.Duration(f * float64(time.Microsecond)) }
	f := func(mb int, start, end time.Duration) Record {
		return Record{Action: schedule.Action{Stage: 0, Kind: schedule.F, Microbatch: mb}, Start: start, End: end}
	}
	// One device, so every action is on the path: one 2 µs long, one 1 ms.
	step := &Step{Time: us(1002), Records: [][]Record{{f(0, 0, us(2)), f(1, us(2), us(1002))}}}
	els := tlElements(t, step, []string{"cpu:0"}, "narrow")
	var outlines []map[string]string
	for _, r := range els["rect"] {
		if r["class"] == "critical" && r["data-action"] == "" && r["fill"] == "none" {
			outlines = append(outlines, r)
		}
	}
	if len(outlines) != 2 {
		t.Fatalf("%d critical outlines, want 2", len(outlines))
	}
	for _, o := range outlines {
		w, sw := tlAttr(t, o, "width"), tlAttr(t, o, "stroke-width")
		sides := o["stroke-dasharray"] == ""
		if sides && w < 2*sw {
			t.Errorf("outline %v px wide with %v px strokes on its sides: the action's colour is covered", w, sw)
		}
		if !sides && w >= 4*sw {
			t.Errorf("a %v px wide action lost its side strokes", w)
		}
	}
}

// TestTimelineTellsChunksApart: under interleaving a device runs two
// chunks whose actions carry the same micro-batch numbers; the odd chunk's
// are drawn lighter, and the legend says so. A schedule of one chunk per
// device has neither.
func TestTimelineTellsChunksApart(t *testing.T) {
	for _, c := range []struct {
		name   string
		chunks int
	}{{"interleaved", 2}, {"1f1b", 1}} {
		s, err := schedule.GenerateChunks(c.name, 2, 4, c.chunks)
		if err != nil {
			t.Fatal(err)
		}
		tl, err := schedule.Simulate(schedule.Lower(s), schedule.UniformCost(1, 2))
		if err != nil {
			t.Fatal(err)
		}
		elems := tlElements(t, Simulated(tl, time.Millisecond), []string{"dev 0", "dev 1"}, c.name)
		light, dark := 0, 0
		for _, r := range elems["rect"] {
			if k := r["class"]; k != "F" && k != "B" && k != "I" && k != "W" {
				continue // compute actions only
			}
			a, err := schedule.ParseAction(r["data-action"])
			if err != nil {
				t.Fatal(err)
			}
			odd := a.Stage/2%2 == 1
			if lit := r["fill-opacity"] != ""; lit != odd {
				t.Errorf("%s: %s drawn lighter %v, want %v (chunk %d)", c.name, a, lit, odd, a.Stage/2)
			}
			if odd {
				light++
			} else {
				dark++
			}
		}
		legend := false
		for _, x := range elems["text"] {
			legend = legend || strings.Contains(x["text"], "chunks 1, 3")
		}
		if want := c.chunks > 1; legend != want || (light > 0) != want || dark == 0 {
			t.Errorf("%s: %d lighter and %d darker actions, legend %v; want lighter ones and the legend only with chunks", c.name, light, dark, legend)
		}
	}
}
