// Tests that a chart's legend has room of its own above the data.

package bench

import (
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// TestChartsLegendAboveTheData: in every chart the legend sits at the top,
// above the highest point any line could draw, whatever the data do: here
// a sweep whose p = 1 throughput is the lowest (the lower left, where the
// throughput legend once was, then held a point) and whose bubble rises
// with m. Measured on the plot as Render draws it: 6 by 4.5 inches.
func TestChartsLegendAboveTheData(t *testing.T) {
	rs := handMade()
	for i := range rs {
		if rs[i].P() == 1 {
			rs[i].TokensPerSec /= 10
		}
		rs[i].BubbleMeasured *= float64(rs[i].Microbatches)
	}
	charts, err := Charts(rs)
	if err != nil {
		t.Fatal(err)
	}
	// The highest value any chart could draw, by its axis's label.
	top := map[string]float64{"%": 100}
	for _, r := range rs {
		top["tokens/s"] = max(top["tokens/s"], r.TokensPerSec)
		top["bubble"] = max(top["bubble"], 100*max(r.BubbleMeasured, r.BubbleSimulated, r.BubbleAnalytic))
		for _, b := range r.PeakBytes {
			top["MiB"] = max(top["MiB"], float64(b)/(1<<20))
		}
	}
	for _, c := range charts {
		for _, p := range c.Plots {
			var high float64
			for unit, v := range top {
				if strings.HasPrefix(p.Y.Label.Text, unit) {
					high = v
				}
			}
			if high == 0 {
				t.Fatalf("%s: no data known for an axis labelled %q", c.Name, p.Y.Label.Text)
			}
			if !p.Legend.Top {
				t.Errorf("%s %q: the legend is at the bottom", c.Name, p.Title.Text)
				continue
			}
			canvas := draw.New(vgimg.New(6*vg.Inch, 4.5*vg.Inch))
			data := p.DataCanvas(canvas)
			_, y := p.Transforms(&data)
			box := p.Legend.Rectangle(data)
			if legendFoot := data.Max.Y - (box.Max.Y - box.Min.Y); y(high) >= legendFoot {
				t.Errorf("%s %q: data up to %.4g reach %.1f pt, above the legend's foot at %.1f pt", c.Name, p.Title.Text, high, y(high), legendFoot)
			}
		}
	}
}
