// The SVG timeline: a Gantt chart of one step, one row per device, that makes the bubbles visible.

package report

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"baton/runtime/schedule"
)

// Layout of the chart, in pixels.
const (
	tlWidth     = 1000
	tlRight     = 24
	tlTop       = 44 // below a one-line title
	tlTitleLine = 20 // each further line of the title moves the rows down this much
	tlRowH      = 30
	tlRowGap    = 8
	tlSendH     = 6    // sends and receive copies: thin bars at the row's foot
	tlCharW     = 6.2  // rough width of a character at 11px sans-serif, for fitting labels
	tlTitleW    = 9.0  // rough width of a character of the 15px bold title, for wrapping it
	tlMidText   = 4    // baseline offset that centres 11px text on a line (dominant-baseline is not honoured everywhere)
	tlMinRectW  = 0.75 // so that very short actions still show
	tlLegendBox = 12
)

// tlStyle is how one kind of slice is drawn, and what the legend calls it.
type tlStyle struct {
	class, fill, text, legend string
}

// The palette: compute in strong colours, waits hatched in red (previous
// stage) and orange (next stage), idle as the row's light grey background.
var (
	tlCompute = map[schedule.Kind]tlStyle{
		schedule.F:    {"F", "#4e79a7", "#fff", "forward (F)"},
		schedule.B:    {"B", "#59a14f", "#fff", "backward (B)"},
		schedule.I:    {"I", "#76b7b2", "#000", "input-grad backward (I)"},
		schedule.W:    {"W", "#b07aa1", "#fff", "weight-grad backward (W)"},
		schedule.Step: {"step", "#7f7f7f", "#fff", "optimizer step (and its wait for the global gradient norm)"},
	}
	tlWaitPrev = tlStyle{"wait-prev", "url(#wait-prev)", "", "wait on previous stage"}
	tlWaitNext = tlStyle{"wait-next", "url(#wait-next)", "", "wait on next stage"}
	tlTransfer = tlStyle{"transfer", "#222", "", "send / receive copy"}
	tlIdle     = tlStyle{"idle", "#e4e4e4", "", "idle"}
	tlOddChunk = tlStyle{"odd-chunk", tlCompute[schedule.F].fill, "", "lighter: a device's chunks 1, 3, … (interleaved)"}
	tlCritical = tlStyle{"critical", "none", "", "critical path"}
)

// oddChunk says whether a, of a step over devices devices, is of an odd
// chunk of its device: interleaving puts stage s on device s mod p, as its
// chunk s div p; other schedules hold one chunk, stage d on device d.
func oddChunk(a schedule.Action, devices int) bool { return a.Stage/devices%2 == 1 }

// tlOddChunkOpacity lightens the actions of a device's odd chunks.
const tlOddChunkOpacity = "0.55"

// The critical path's look: a dark outline inside its compute actions, and
// an arrow for each hop from a send to the receive that waited for it.
const (
	tlPathColor  = "#111"
	tlPathStroke = 2
	tlNarrow     = 4 * tlPathStroke // narrower compute rectangles are outlined top and bottom only
)

// tlDefs are the hatch patterns of the two waits; the stripes lean opposite
// ways so the two stay apart in greyscale too.
const tlDefs = `<defs>
<pattern id="wait-prev" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">` +
	`<rect width="6" height="6" fill="#f9c9c9"/><line x1="0" y1="0" x2="0" y2="6" stroke="#d62728" stroke-width="3"/></pattern>
<pattern id="wait-next" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)">` +
	`<rect width="6" height="6" fill="#fde0c2"/><line x1="0" y1="0" x2="0" y2="6" stroke="#ff7f0e" stroke-width="3"/></pattern>
<marker id="hop" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="6" markerHeight="6" orient="auto-start-reverse">` +
	`<path d="M0,0 L8,4 L0,8 z" fill="` + tlPathColor + `"/></marker>
</defs>
`

// WriteTimeline draws one step as an SVG Gantt chart: device rows named by
// devices, a time axis in milliseconds, one rectangle per action (data-action
// holds its name, class its kind), waits hatched by neighbour, and the time
// no action covers left as the row's grey background. The step's critical
// path is outlined on top: its compute rectangles carry data-critical.
func WriteTimeline(w io.Writer, devices []string, step *Step, title string) error {
	if step == nil {
		return fmt.Errorf("timeline: no step")
	}
	if len(step.Records) > len(devices) {
		return fmt.Errorf("timeline: records for %d devices but %d device names were given", len(step.Records), len(devices))
	}
	// The axis starts before the origin when a record does (Step.extent).
	from, span := step.extent()
	if span <= from {
		span = from + time.Millisecond // an empty step still draws an axis
	}
	rows := len(step.Records)
	labelW := 0
	for _, d := range devices[:rows] {
		labelW = max(labelW, len(d))
	}
	left := 16 + math.Ceil(float64(labelW)*tlCharW*1.1) + 8
	plotW := tlWidth - left - tlRight
	x := func(t time.Duration) float64 { return left + plotW*float64(t-from)/float64(span-from) }
	titleLines := tlWrap(title, (tlWidth-2*16)/tlTitleW)
	top := float64(tlTop + (len(titleLines)-1)*tlTitleLine)
	rowY := func(d int) float64 { return top + float64(d*(tlRowH+tlRowGap)) }
	rowsEnd := rowY(rows)
	axisY := rowsEnd + 2
	path := CriticalPath(step)
	critical := map[PathNode]bool{}
	for _, n := range path {
		critical[n] = true
	}
	legend := tlLegendItems(step, len(path) > 0)
	legendLines := tlLegendLines(legend, tlWidth-2*16)
	height := axisY + 40 + float64(len(legendLines))*20 + 8

	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%s" viewBox="0 0 %d %s" font-family="sans-serif" font-size="11">`+"\n",
		tlWidth, tlNum(height), tlWidth, tlNum(height))
	bw.WriteString(tlDefs)
	fmt.Fprintf(bw, `<rect width="100%%" height="100%%" fill="#fff"/>`+"\n")
	for i, line := range titleLines {
		fmt.Fprintf(bw, `<text x="16" y="%d" font-size="15" font-weight="bold">%s</text>`+"\n", 26+i*tlTitleLine, html.EscapeString(line))
	}

	for d, recs := range step.Records {
		y := rowY(d)
		fmt.Fprintf(bw, `<text x="16" y="%s">%s</text>`+"\n", tlNum(y+tlRowH/2+tlMidText), html.EscapeString(devices[d]))
		// The background is the idle time: whatever the actions leave uncovered.
		fmt.Fprintf(bw, `<rect class="%s" x="%s" y="%s" width="%s" height="%d" fill="%s"/>`+"\n",
			tlIdle.class, tlNum(left), tlNum(y), tlNum(plotW), tlRowH, tlIdle.fill)
		for i, r := range recs {
			tlRecord(bw, r, x, y, critical[PathNode{d, i}], oddChunk(r.Action, rows))
		}
	}
	tlPath(bw, step, path, x, rowY)
	tlAxis(bw, from, span, left, plotW, axisY)
	tlLegend(bw, legendLines, axisY+40)
	bw.WriteString("</svg>\n")
	return bw.Flush()
}

// tlRecord draws one action in the row starting at y.
func tlRecord(bw *bufio.Writer, r Record, x func(time.Duration) float64, y float64, critical, oddChunk bool) {
	a := r.Action
	tip := fmt.Sprintf("%s  %s–%s", a, tlMs(r.Start), tlMs(r.End))
	mark := ""
	if critical {
		tip += ", on the critical path"
		mark = ` data-critical="true"`
	}
	if st, ok := tlCompute[a.Kind]; ok {
		x0, wd := x(r.Start), max(x(r.End)-x(r.Start), tlMinRectW)
		if oddChunk { // interleaving's chunks 1, 3, ... lighter, so that a device's chunks tell apart
			mark += ` fill-opacity="` + tlOddChunkOpacity + `"`
		}
		fmt.Fprintf(bw, `<rect class="%s" data-action="%s"%s x="%s" y="%s" width="%s" height="%d" fill="%s" stroke="#fff" stroke-width="0.5"><title>%s</title></rect>`+"\n",
			st.class, a, mark, tlNum(x0), tlNum(y), tlNum(wd), tlRowH, st.fill, tip)
		label := strconv.Itoa(a.Microbatch)
		if a.Kind == schedule.Step {
			label = "step"
		}
		if float64(len(label))*tlCharW+2 <= wd {
			fmt.Fprintf(bw, `<text x="%s" y="%s" text-anchor="middle" fill="%s">%s</text>`+"\n",
				tlNum(x0+wd/2), tlNum(y+tlRowH/2+tlMidText), st.text, label)
		}
		return
	}
	copyStart := r.Start
	if (a.Kind == schedule.RecvF || a.Kind == schedule.RecvB) && r.Wait > 0 {
		// The wait is the receive's first part: the executor times it from the receive's start.
		st := tlWaitNext
		if a.Kind == schedule.RecvF {
			st = tlWaitPrev
		}
		copyStart = r.copyStart()
		fmt.Fprintf(bw, `<rect class="%s" data-action="%s" x="%s" y="%s" width="%s" height="%d" fill="%s"><title>%s waited %s</title></rect>`+"\n",
			st.class, a, tlNum(x(r.Start)), tlNum(y), tlNum(max(x(copyStart)-x(r.Start), tlMinRectW)), tlRowH, st.fill, tip, tlMs(r.Wait))
	}
	if r.End > copyStart {
		fmt.Fprintf(bw, `<rect class="%s" data-action="%s" x="%s" y="%s" width="%s" height="%d" fill="%s"><title>%s</title></rect>`+"\n",
			tlTransfer.class, a, tlNum(x(copyStart)), tlNum(y+tlRowH-tlSendH), tlNum(max(x(r.End)-x(copyStart), tlMinRectW)), tlSendH, tlTransfer.fill, tip)
	}
}

// tlPath draws the critical path over the rows: an outline just inside each
// of its compute rectangles (drawn after the rows, so no neighbour covers
// it), and an arrow from the end of each send whose receive waited to where
// that receive's copy starts on the other row.
func tlPath(bw *bufio.Writer, step *Step, path []PathNode, x func(time.Duration) float64, rowY func(int) float64) {
	for i, n := range path {
		r := step.Records[n.Device][n.Index]
		if r.Action.Kind.IsCompute() {
			x0, wd := x(r.Start), max(x(r.End)-x(r.Start), tlMinRectW)
			in := min(tlPathStroke/2.0, wd/4) // stay inside: the rectangle's neighbours touch it
			w, h, sides := wd-2*in, float64(tlRowH-tlPathStroke), ""
			if wd < tlNarrow {
				// Four sides would cover the fill: outline the top and bottom
				// only, edge to edge, so the colour shows and a run of short
				// actions on the path reads as one band.
				in, w = 0, wd
				sides = fmt.Sprintf(` stroke-dasharray="%s %s"`, tlNum(w), tlNum(h))
			}
			fmt.Fprintf(bw, `<rect class="%s" x="%s" y="%s" width="%s" height="%s" fill="none" stroke="%s" stroke-width="%d"%s/>`+"\n",
				tlCritical.class, tlNum(x0+in), tlNum(rowY(n.Device)+tlPathStroke/2.0), tlNum(w), tlNum(h), tlPathColor, tlPathStroke, sides)
		}
		if i == 0 || path[i-1].Device == n.Device {
			continue
		}
		from := step.Records[path[i-1].Device][path[i-1].Index]
		y1, y2 := rowY(path[i-1].Device)+tlRowH, rowY(n.Device)
		if n.Device < path[i-1].Device {
			y1, y2 = rowY(path[i-1].Device), rowY(n.Device)+tlRowH
		}
		// A send to another rank may end after its data landed (its
		// record holds the write's return): the arrow then leaves the send
		// where the copy starts, never pointing back in time.
		copyStart := r.copyStart()
		fmt.Fprintf(bw, `<line class="hop" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.5" marker-end="url(#hop)"><title>%s waited for %s</title></line>`+"\n",
			tlNum(x(max(min(from.End, copyStart), from.Start))), tlNum(y1), tlNum(x(copyStart)), tlNum(y2), tlPathColor, r.Action, from.Action)
	}
}

// tlAxis draws the time axis from from to span with about eight ticks at
// round milliseconds.
func tlAxis(bw *bufio.Writer, from, span time.Duration, left, plotW, y float64) {
	start := float64(from) / float64(time.Millisecond)
	total := float64(span-from) / float64(time.Millisecond)
	tick, decimals := tlNiceTick(total / 8)
	fmt.Fprintf(bw, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#444"/>`+"\n", tlNum(left), tlNum(y), tlNum(left+plotW), tlNum(y))
	for i := math.Ceil(start/tick - 1e-9); i*tick <= (start+total)+total*1e-9; i++ {
		t := i * tick
		if t == 0 {
			t = 0 // not -0, which prints as "-0"
		}
		tx := left + plotW*(t-start)/total
		fmt.Fprintf(bw, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#444"/>`+"\n", tlNum(tx), tlNum(y), tlNum(tx), tlNum(y+4))
		fmt.Fprintf(bw, `<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", tlNum(tx), tlNum(y+16), strconv.FormatFloat(t, 'f', decimals, 64))
	}
	fmt.Fprintf(bw, `<text x="%s" y="%s" text-anchor="end" fill="#444">time (ms)</text>`+"\n", tlNum(left+plotW), tlNum(y+30))
}

// tlWrap breaks a title into lines of at most chars characters at its
// spaces, so that a long one stays on the canvas.
func tlWrap(title string, chars float64) []string {
	var lines []string
	line := ""
	for _, w := range strings.Split(title, " ") {
		if line != "" && float64(len([]rune(line+" "+w))) > chars {
			lines, line = append(lines, line), w
			continue
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}

// tlNiceTick rounds a tick interval up to 1, 2 or 5 times a power of ten, and
// says how many decimals its labels need.
func tlNiceTick(raw float64) (float64, int) {
	if raw <= 0 || math.IsInf(raw, 0) || math.IsNaN(raw) {
		return 1, 0
	}
	exp := math.Floor(math.Log10(raw))
	pow := math.Pow(10, exp)
	step := 10 * pow
	for _, m := range []float64{1, 2, 5} {
		if m*pow >= raw*(1-1e-9) {
			step = m * pow
			break
		}
	}
	return step, max(0, -int(math.Floor(math.Log10(step)+1e-9)))
}

// tlLegendItems are the styles the step uses, in reading order, then idle
// and, when the step has one, the critical path.
func tlLegendItems(step *Step, path bool) []tlStyle {
	seen := map[string]bool{}
	for _, recs := range step.Records {
		for _, r := range recs {
			if r.Action.Kind.IsCompute() && oddChunk(r.Action, len(step.Records)) {
				seen[tlOddChunk.class] = true
			}
			switch k := r.Action.Kind; {
			case tlCompute[k].class != "":
				seen[tlCompute[k].class] = true
			case k == schedule.RecvF && r.Wait > 0:
				seen[tlWaitPrev.class] = true
			case k == schedule.RecvB && r.Wait > 0:
				seen[tlWaitNext.class] = true
			}
			if !r.Action.Kind.IsCompute() && r.Action.Kind != schedule.Step {
				seen[tlTransfer.class] = true
			}
		}
	}
	var out []tlStyle
	for _, st := range []tlStyle{tlCompute[schedule.F], tlCompute[schedule.B], tlCompute[schedule.I], tlCompute[schedule.W], tlCompute[schedule.Step], tlOddChunk, tlWaitPrev, tlWaitNext, tlTransfer} {
		if seen[st.class] {
			out = append(out, st)
		}
	}
	out = append(out, tlIdle)
	if path {
		out = append(out, tlCritical)
	}
	return out
}

// tlLegendLines breaks the legend into lines no wider than width.
func tlLegendLines(items []tlStyle, width float64) [][]tlStyle {
	var lines [][]tlStyle
	var line []tlStyle
	used := 0.0
	for _, it := range items {
		w := tlLegendItemW(it)
		if len(line) > 0 && used+w > width {
			lines, line, used = append(lines, line), nil, 0
		}
		line, used = append(line, it), used+w
	}
	return append(lines, line)
}

func tlLegendItemW(it tlStyle) float64 { return tlLegendBox + 6 + float64(len(it.legend))*tlCharW + 16 }

// tlLegend draws the legend's swatches; they carry no data-action, so
// they are never mistaken for actions.
func tlLegend(bw *bufio.Writer, lines [][]tlStyle, y float64) {
	for _, line := range lines {
		lx := 16.0
		for _, it := range line {
			fill := it.fill
			switch it.class {
			case tlCritical.class:
				fmt.Fprintf(bw, `<rect x="%s" y="%s" width="%d" height="%d" fill="#fff" stroke="%s" stroke-width="%d"/>`+"\n",
					tlNum(lx+1), tlNum(y+1), tlLegendBox-2, tlLegendBox-2, tlPathColor, tlPathStroke)
			case tlOddChunk.class:
				fmt.Fprintf(bw, `<rect x="%s" y="%s" width="%d" height="%d" fill="%s" fill-opacity="%s" stroke="#888" stroke-width="0.5"/>`+"\n",
					tlNum(lx), tlNum(y), tlLegendBox, tlLegendBox, fill, tlOddChunkOpacity)
			case tlTransfer.class:
				// Thin like the bars it stands for.
				fmt.Fprintf(bw, `<rect x="%s" y="%s" width="%d" height="%d" fill="%s"/>`+"\n", tlNum(lx), tlNum(y+tlLegendBox-4), tlLegendBox, 4, fill)
			default:
				fmt.Fprintf(bw, `<rect x="%s" y="%s" width="%d" height="%d" fill="%s" stroke="#888" stroke-width="0.5"/>`+"\n", tlNum(lx), tlNum(y), tlLegendBox, tlLegendBox, fill)
			}
			fmt.Fprintf(bw, `<text x="%s" y="%s">%s</text>`+"\n", tlNum(lx+tlLegendBox+6), tlNum(y+tlLegendBox/2+tlMidText), html.EscapeString(it.legend))
			lx += tlLegendItemW(it)
		}
		y += 20
	}
}

// tlNum prints a coordinate with no more digits than a screen can show.
func tlNum(v float64) string { return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) }

// tlMs prints a duration in milliseconds for tooltips.
func tlMs(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64) + " ms"
}
