// Tests that charts draw only lines, and tell measured, simulated and analytic apart.

package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// chartNames builds the charts of rs and returns their names, each with
// the title of its first plot.
func chartNames(t *testing.T, rs []Result) map[string]string {
	t.Helper()
	charts, err := Charts(rs)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range charts {
		out[c.Name] = c.Plots[0].Title.Text
	}
	return out
}

// TestChartsOnlyLines: a sweep of single points (one p, one m per
// schedule, as the committed H100 gpt2-124m sweep is) draws no chart, and
// one with a line draws just the charts that have one, titled by what ran.
func TestChartsOnlyLines(t *testing.T) {
	single := []Result{}
	for _, r := range handMade() {
		if r.P() == 4 && r.Microbatches == 8 || r.Schedule == "naive" && r.P() == 1 {
			single = append(single, r)
		}
	}
	if got := chartNames(t, single); len(got) != 0 {
		t.Errorf("single points drew charts %v, want none", got)
	}
	for _, csv := range []struct {
		file string
		want map[string]string
	}{
		{"2026-11-26-nvidia-h100-80gb-hbm3-gpt2-124m.csv", map[string]string{}},
		{"2026-11-26-nvidia-h100-80gb-hbm3-gpt2-124m-partitions.csv", map[string]string{
			"textbook": "Layer-wise parallelism, naive schedule", "scaling": "Throughput (m=8; naive m=1)"}},
	} {
		f, err := os.Open(filepath.Join("results", csv.file))
		if err != nil {
			t.Fatal(err)
		}
		rs, err := ReadCSV(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		got := chartNames(t, rs)
		if len(got) != len(csv.want) {
			t.Errorf("%s: charts %v, want %v", csv.file, got, csv.want)
		}
		for name, title := range csv.want {
			if got[name] != title {
				t.Errorf("%s: chart %s titled %q, want %q", csv.file, name, got[name], title)
			}
		}
	}
	naiveOnly := Ran(handMade(), "naive")
	if got := chartNames(t, naiveOnly)["scaling"]; got != "Throughput (naive m=1)" {
		t.Errorf("naive-only scaling chart titled %q, want Throughput (naive m=1), never m=0", got)
	}
}

// TestChartsTellKindsApart: the bubble and textbook charts name measured,
// simulated and analytic in their legends and draw them in three line
// styles (solid, and two dash patterns).
func TestChartsTellKindsApart(t *testing.T) {
	charts, err := Charts(handMade())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"bubble":   {">measured<", ">simulated<", ">analytic<"},
		"textbook": {">utilization, measured (1 − mean idle)<", ">utilization, analytic 1/p<", ">idle, analytic (p−1)/p<"},
	}
	for _, c := range charts {
		if want[c.Name] == nil {
			continue
		}
		b, _, err := c.Render()
		if err != nil {
			t.Fatal(err)
		}
		svg := string(b)
		for _, label := range want[c.Name] {
			if !strings.Contains(svg, label) {
				t.Errorf("%s.svg has no legend entry %s", c.Name, label)
			}
		}
		dashes := map[string]bool{}
		for _, part := range strings.Split(svg, "stroke-dasharray:")[1:] {
			dashes[part[:strings.IndexAny(part, ";\"")]] = true
		}
		if n := map[string]int{"bubble": 2, "textbook": 1}[c.Name]; len(dashes) < n {
			t.Errorf("%s.svg draws %d dash patterns %v, want %d besides solid", c.Name, len(dashes), dashes, n)
		}
		delete(want, c.Name)
	}
	if len(want) != 0 {
		t.Errorf("charts missing: %v", want)
	}
}
