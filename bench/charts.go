// Charts of a sweep, drawn with gonum/plot and written as SVG and PNG.

package bench

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Chart is a figure of one or more plots side by side.
type Chart struct {
	Name  string // base file name
	Plots []*plot.Plot
}

var (
	solid  []vg.Length
	dashed = []vg.Length{vg.Points(6), vg.Points(3)}
	dotted = []vg.Length{vg.Points(1.5), vg.Points(2.5)}
	black  = color.Gray{}
)

// chartKinds names the charts a report may show, as Charts orders them:
// Write removes an earlier sweep's charts of a kind this one does not draw.
var chartKinds = []string{"textbook", "bubble", "scaling"}

// Charts builds the three charts a report shows. Each draws only lines,
// series of two x values at least: a chart with no line (no naive, a single
// m, a single p) is left out, as a lone point is a table's job.
func Charts(rs []Result) ([]Chart, error) {
	var out []Chart
	for _, build := range []func([]Result) (*Chart, error){TextbookChart, BubbleChart, ScalingChart} {
		c, err := build(rs)
		if err != nil {
			return nil, err
		}
		if c != nil {
			out = append(out, *c)
		}
	}
	return out, nil
}

// TextbookChart: the naive schedule on 1, 2, 4… devices, measured
// utilization and idle per device beside the analytic 1/p and (p−1)/p.
func TextbookChart(rs []Result) (*Chart, error) {
	naive := Ran(rs, "naive")
	p := newPlot("Layer-wise parallelism, naive schedule", "devices p", "% of the pipeline time")
	var util, utilA, idle, idleA, perDev plotter.XYs
	var ticks []float64
	for _, r := range naive {
		x, n := float64(r.P()), float64(r.P())
		ticks = append(ticks, x)
		util = append(util, plotter.XY{X: x, Y: (1 - r.BubbleMeasured) * 100})
		idle = append(idle, plotter.XY{X: x, Y: r.BubbleMeasured * 100})
		utilA = append(utilA, plotter.XY{X: x, Y: 100 / n})
		idleA = append(idleA, plotter.XY{X: x, Y: (n - 1) / n * 100})
		for _, f := range r.IdleFrac {
			perDev = append(perDev, plotter.XY{X: x, Y: f * 100})
		}
	}
	if !isLine(util) {
		return nil, nil
	}
	blue, red := plotutil.Color(2), plotutil.Color(0)
	if err := addLine(p, "utilization, measured (1 − mean idle)", util, blue, solid, true); err != nil {
		return nil, err
	}
	if err := addLine(p, "utilization, analytic 1/p", utilA, blue, dashed, false); err != nil {
		return nil, err
	}
	if err := addLine(p, "idle, measured (mean over devices)", idle, red, solid, true); err != nil {
		return nil, err
	}
	if err := addLine(p, "idle, analytic (p−1)/p", idleA, red, dashed, false); err != nil {
		return nil, err
	}
	sc, err := plotter.NewScatter(perDev)
	if err != nil {
		return nil, err
	}
	sc.GlyphStyle = draw.GlyphStyle{Color: red, Radius: vg.Points(3), Shape: draw.CrossGlyph{}}
	p.Add(sc)
	p.Legend.Add("idle, measured, each device", sc)
	// Headroom above 100% keeps the legend off the lines.
	p.Y.Min, p.Y.Max = 0, 140
	p.Y.Tick.Marker = ticksAt([]float64{0, 25, 50, 75, 100})
	p.X.Tick.Marker = ticksAt(ticks)
	return &Chart{Name: "textbook", Plots: []*plot.Plot{p}}, nil
}

// BubbleChart: the bubble against micro-batches for each schedule on the
// widest pipeline; measured solid, simulated dashed, analytic dotted.
func BubbleChart(rs []Result) (*Chart, error) {
	p := maxP(rs)
	title := fmt.Sprintf("Bubble vs micro-batches, %d devices", p)
	pl := newPlot(title, "micro-batches m", "bubble, % of the pipeline time")
	var ms []float64
	drawn := 0
	for i, s := range schedules(rs) {
		if s == "naive" {
			continue // one micro-batch only: not a line
		}
		var meas, sim, ana plotter.XYs
		for _, r := range Ran(rs, s) {
			if r.P() != p {
				continue
			}
			x := float64(r.Microbatches)
			meas = append(meas, plotter.XY{X: x, Y: r.BubbleMeasured * 100})
			sim = append(sim, plotter.XY{X: x, Y: r.BubbleSimulated * 100})
			ana = append(ana, plotter.XY{X: x, Y: r.BubbleAnalytic * 100})
		}
		if !isLine(meas) {
			continue
		}
		ms = addXs(ms, meas)
		c := plotutil.Color(i)
		if err := addLine(pl, s, meas, c, solid, true); err != nil {
			return nil, err
		}
		if err := addLine(pl, "", sim, c, dashed, false); err != nil {
			return nil, err
		}
		if err := addLine(pl, "", ana, c, dotted, false); err != nil {
			return nil, err
		}
		drawn++
	}
	if drawn == 0 || p < 2 {
		return nil, nil
	}
	for _, k := range []struct {
		name string
		dash []vg.Length
	}{{"measured", solid}, {"simulated", dashed}, {"analytic", dotted}} {
		l := &plotter.Line{LineStyle: draw.LineStyle{Color: black, Width: vg.Points(1.5), Dashes: k.dash}}
		pl.Legend.Add(k.name, l)
	}
	slices.Sort(ms)
	pl.X.Tick.Marker = ticksAt(ms)
	pl.Y.Min = 0
	roomForLegend(pl, drawn+3)
	return &Chart{Name: "bubble", Plots: []*plot.Plot{pl}}, nil
}

// ScalingChart: tokens/s and peak memory per device against p for each
// schedule, at the largest m (naive at its single micro-batch).
func ScalingChart(rs []Result) (*Chart, error) {
	mMax := 0
	for _, r := range rs {
		if r.Skipped == "" && r.Schedule != "naive" {
			mMax = max(mMax, r.Microbatches)
		}
	}
	tp := newPlot("", "devices p", "tokens/s")
	mem := newPlot("Peak memory per device", "devices p", "MiB (line: largest device; ×: each device)")
	var ps []float64
	var drawn []string // what the title names: naive's m, the others'
	for i, s := range schedules(rs) {
		var tok, peak, each plotter.XYs
		for _, r := range Ran(rs, s) {
			if s != "naive" && r.Microbatches != mMax {
				continue
			}
			x := float64(r.P())
			tok = append(tok, plotter.XY{X: x, Y: r.TokensPerSec})
			var top float64
			for _, b := range r.PeakBytes {
				mib := float64(b) / (1 << 20)
				top = max(top, mib)
				each = append(each, plotter.XY{X: x, Y: mib})
			}
			peak = append(peak, plotter.XY{X: x, Y: top})
		}
		if !isLine(tok) {
			continue
		}
		ps = addXs(ps, tok)
		c := plotutil.Color(i)
		if err := addLine(tp, s, tok, c, solid, true); err != nil {
			return nil, err
		}
		if err := addLine(mem, s, peak, c, solid, false); err != nil {
			return nil, err
		}
		sc, err := plotter.NewScatter(each)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(2.5), Shape: draw.CrossGlyph{}}
		mem.Add(sc)
		label := fmt.Sprintf("m=%d", mMax)
		if s == "naive" {
			label = "naive m=1"
		}
		drawn = addOnce(drawn, label)
	}
	if len(drawn) == 0 {
		return nil, nil
	}
	slices.Sort(drawn) // "m=…" before "naive m=1"
	tp.Title.Text = fmt.Sprintf("Throughput (%s)", strings.Join(drawn, "; "))
	slices.Sort(ps)
	for _, pl := range []*plot.Plot{tp, mem} {
		pl.X.Tick.Marker = ticksAt(ps)
		pl.Y.Min = 0
		roomForLegend(pl, len(schedules(rs)))
	}
	return &Chart{Name: "scaling", Plots: []*plot.Plot{tp, mem}}, nil
}

// Render draws the chart as SVG and PNG, each plot 6×4.5 inches side by
// side, without writing: Write draws every file before it writes one.
func (c Chart) Render() (svg, png []byte, err error) {
	w, h := vg.Length(len(c.Plots))*6*vg.Inch, 4.5*vg.Inch
	sc := vgsvg.New(w, h)
	c.draw(draw.New(sc))
	var sb bytes.Buffer
	if _, err := sc.WriteTo(&sb); err != nil {
		return nil, nil, err
	}
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(96), vgimg.UseBackgroundColor(color.White))
	c.draw(draw.New(img))
	var pb bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&pb); err != nil {
		return nil, nil, err
	}
	return sb.Bytes(), pb.Bytes(), nil
}

func (c Chart) draw(dc draw.Canvas) {
	if len(c.Plots) == 1 {
		c.Plots[0].Draw(dc)
		return
	}
	tiles := draw.Tiles{Rows: 1, Cols: len(c.Plots), PadX: vg.Points(10), PadTop: vg.Points(5), PadBottom: vg.Points(5), PadLeft: vg.Points(5), PadRight: vg.Points(5)}
	cs := plot.Align([][]*plot.Plot{c.Plots}, tiles, dc)
	for i, p := range c.Plots {
		p.Draw(cs[0][i])
	}
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, x, y
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	return p
}

// addLine adds a line (with points when marked) and its legend entry
// unless name is empty.
func addLine(p *plot.Plot, name string, xys plotter.XYs, c color.Color, dash []vg.Length, marked bool) error {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.LineStyle = draw.LineStyle{Color: c, Width: vg.Points(1.5), Dashes: dash}
	p.Add(l)
	thumbs := []plot.Thumbnailer{l}
	if marked {
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return err
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(2.5), Shape: draw.CircleGlyph{}}
		p.Add(sc)
		thumbs = append(thumbs, sc)
	}
	if name != "" {
		p.Legend.Add(name, thumbs...)
	}
	return nil
}

// isLine reports whether xys spans two x values at least: a single point,
// or points all at one x (one p, two precisions), shows no trend.
func isLine(xys plotter.XYs) bool {
	for _, xy := range xys {
		if xy.X != xys[0].X {
			return true
		}
	}
	return false
}

// addXs adds the x values of xys that xs lacks.
func addXs(xs []float64, xys plotter.XYs) []float64 {
	for _, xy := range xys {
		if !slices.Contains(xs, xy.X) {
			xs = append(xs, xy.X)
		}
	}
	return xs
}

func addOnce(ss []string, s string) []string {
	if slices.Contains(ss, s) {
		return ss
	}
	return append(ss, s)
}

// roomForLegend raises the plot's top so that its data keep below the
// legend of entries lines in its upper left: no corner is sure to be clear
// of the data (throughput may fall or rise with p, a bubble with m).
func roomForLegend(p *plot.Plot, entries int) {
	// About 14 points a line and a margin, of a plot area about 260
	// points high (4.5 inches less title and axis).
	share := min(0.6, 0.04+float64(entries)*14/260)
	p.Y.Max /= 1 - share
	p.Legend.Top, p.Legend.Left = true, true
	p.Y.Tick.Marker = plainTicks{}
}

// plainTicks are gonum's default ticks labelled in as few digits as their
// values need: 25, not 25.00.
type plainTicks struct{}

func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i, t := range ts {
		if t.Label != "" {
			ts[i].Label = strconv.FormatFloat(math.Round(t.Value*1e6)/1e6, 'f', -1, 64)
		}
	}
	return ts
}

// ticksAt labels exactly the given values, so p and m read as counts.
func ticksAt(xs []float64) plot.ConstantTicks {
	t := make(plot.ConstantTicks, len(xs))
	for i, x := range xs {
		t[i] = plot.Tick{Value: x, Label: strconv.FormatFloat(x, 'g', -1, 64)}
	}
	return t
}

// schedules lists the schedules that ran, in sweep order.
func schedules(rs []Result) []string {
	var out []string
	for _, r := range rs {
		if r.Skipped == "" && !slices.Contains(out, r.Schedule) {
			out = append(out, r.Schedule)
		}
	}
	return out
}
