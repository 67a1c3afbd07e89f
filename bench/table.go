// Tables: the sweep's results as CSV (one row per point) and as the Markdown report.

package bench

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"baton/internal/words"
	"baton/model"
	"baton/runtime/report"
)

// maxP is the widest pipeline among the results: the number of per-device columns.
func maxP(rs []Result) int {
	n := 0
	for _, r := range rs {
		n = max(n, r.P())
	}
	return n
}

// CSVHeader is the header of a CSV with per-device columns for p devices.
func CSVHeader(p int) []string {
	h := []string{"model", "devices", "schedule", "precision", "microbatches", "chunks", "tokens_per_sec",
		"bubble_measured", "bubble_simulated", "bubble_analytic", "step_s"}
	for d := range p {
		h = append(h, fmt.Sprintf("idle_frac_%d", d))
	}
	for d := range p {
		h = append(h, fmt.Sprintf("peak_bytes_%d", d))
	}
	return h
}

// WriteCSV writes one row per point that ran; skipped points are left out
// (the report lists them). Per-device cells past a point's p, and figures a
// row lacks (NaN: a PyTorch row's bubbles), are empty.
func WriteCSV(w io.Writer, rs []Result) error {
	p := maxP(rs)
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader(p)); err != nil {
		return err
	}
	f := func(x float64) string {
		if math.IsNaN(x) {
			return ""
		}
		return strconv.FormatFloat(x, 'f', 6, 64)
	}
	for _, r := range rs {
		if r.Skipped != "" {
			continue
		}
		row := []string{r.Model, strconv.Itoa(r.P()), r.Schedule, r.Precision, strconv.Itoa(r.Microbatches), strconv.Itoa(r.Chunks),
			strconv.FormatFloat(r.TokensPerSec, 'f', 1, 64), f(r.BubbleMeasured), f(r.BubbleSimulated), f(r.BubbleAnalytic), f(r.StepS)}
		idle, peak := make([]string, p), make([]string, p)
		for d := range r.P() {
			if d < len(r.IdleFrac) {
				idle[d] = f(r.IdleFrac[d])
			}
			if d < len(r.PeakBytes) {
				peak[d] = strconv.FormatInt(r.PeakBytes[d], 10)
			}
		}
		row = append(append(row, idle...), peak...)
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Report is what the Markdown report says beside the results.
type Report struct {
	Command string    // reproduces it; the report's first line
	Date    time.Time // when the sweep ran
	Machine Machine
	Options Options
	Elapsed time.Duration
	CSV     string   // file name of the CSV
	Charts  []string // base names of the charts (SVG and PNG beside the report)
	Peer    []Result // the peer file's rows (scripts/torch_peer.py): those of the same model beside baton's one-device points
	Tag     string   // names this sweep among others of the machine and day ("" for none)
}

// WriteMarkdown writes the dated report: the command, the machine, the
// setup, the textbook table, every point, and the charts.
func WriteMarkdown(w io.Writer, rep Report, rs []Result) error {
	var b strings.Builder
	o := rep.Options
	fmt.Fprintf(&b, "`%s`\n\n", rep.Command)
	fmt.Fprintf(&b, "# baton bench, %s\n\n", rep.Date.Format("2006-01-02"))
	fmt.Fprintf(&b, "**Machine:** %s.\n\n", rep.Machine)
	fmt.Fprintf(&b, "**Setup:** model `%s` (%s, %.2f M parameters), batch %d × %d tokens; each point trains 1 warm-up step and then %s with `runtime.Trainer` on %s; figures are means of the measured steps. The sweep took %s; the CSV behind the tables: [%s](%s).\n\n",
		o.Preset, o.Model, float64(o.Model.NumParams())/1e6, o.Batch, o.Model.MaxT, words.Count(o.Steps, "measured step"), corpus(o), rep.Elapsed.Round(100*time.Millisecond), rep.CSV, rep.CSV)
	b.WriteString("Every figure below was measured, except the columns labelled *analytic* (the schedule's formula) and *simulated* (the schedule replayed on the run's own measured action times). Idle is the fraction of the pipeline's time a device did not compute; the bubble is its mean over devices.\n\n")
	main := OfPrecision(rs, o.precisions()[0].String())
	if h := SweepHeadline(o, rs); h != "" {
		fmt.Fprintf(&b, "**Headline:** %s\n\n", h)
	}
	if len(rep.Peer) > 0 {
		writePeer(&b, rep, rs)
	}

	b.WriteString("## Layer-wise parallelism as in the textbook (schedule `naive`)\n\n")
	if len(o.precisions()) > 1 {
		fmt.Fprintf(&b, "In %s, as the charts.\n\n", o.precisions()[0])
	}
	b.WriteString("| p | utilization measured | utilization analytic 1/p | idle measured per device | idle analytic (p−1)/p |\n| ---: | ---: | ---: | --- | ---: |\n")
	for _, r := range Ran(main, "naive") {
		p := float64(r.P())
		fmt.Fprintf(&b, "| %d | %.1f%% | %.1f%% | %s | %.1f%% |\n", r.P(), (1-r.BubbleMeasured)*100, 100/p, percents(r.IdleFrac), (p-1)/p*100)
	}

	b.WriteString("\n## Every point\n\n")
	b.WriteString("| schedule | precision | p | m | v | tokens/s | step ms | bubble measured | simulated | analytic | idle per device | peak MiB per device |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n")
	var skipped []string
	for _, r := range rs {
		if r.Skipped != "" {
			skipped = append(skipped, fmt.Sprintf("- `%s` %s, p=%d, m=%d, v=%d: %s", r.Schedule, r.Precision, r.PointP, r.Microbatches, r.Chunks, r.Skipped))
			continue
		}
		mib := make([]string, r.P())
		for d, x := range r.PeakBytes {
			mib[d] = fmt.Sprintf("%.1f", float64(x)/(1<<20))
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %.0f | %.1f | %.1f%% | %.1f%% | %.1f%% | %s | %s |\n", r.Schedule, r.Precision, r.P(), r.Microbatches, r.Chunks,
			r.TokensPerSec, r.StepS*1000, r.BubbleMeasured*100, r.BubbleSimulated*100, r.BubbleAnalytic*100, percents(r.IdleFrac), strings.Join(mib, ", "))
	}
	if len(skipped) > 0 {
		b.WriteString("\nPoints that could not run:\n\n" + strings.Join(skipped, "\n") + "\n")
	}
	if len(rep.Charts) > 0 {
		b.WriteString("\n## Charts\n\n")
		for _, c := range rep.Charts {
			fmt.Fprintf(&b, "![%s](%s.svg)\n\n", c, c)
		}
		b.WriteString("Each chart is also written as PNG beside its SVG.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// SplitPeer splits a peer file's rows into those the report compares with
// the sweep, of its model on one device, and the rest, which it only lists:
// tokens/s of another model or of several devices compare nothing.
func SplitPeer(model string, peer []Result) (same, other []Result) {
	for _, r := range peer {
		if r.Model == model && r.P() == 1 {
			same = append(same, r)
		} else {
			other = append(other, r)
		}
	}
	return same, other
}

// writePeer writes the table of baton's one-device points beside the peer
// file's rows of the same model, each with its ratio to PyTorch eager in the
// same precision, and lists the peer rows it does not compare.
func writePeer(b *strings.Builder, rep Report, rs []Result) {
	o := rep.Options
	peer, other := SplitPeer(o.Preset, rep.Peer)
	// MFU needs the GPU's peak: a sweep on CPU devices, or on a GPU baton
	// has no figures for, has no MFU column, nor the sentence that defines it.
	var gpuPeak report.Peak
	hasPeak := false
	if len(rep.Machine.GPUs) > 0 {
		gpuPeak, hasPeak = report.PeakOf(rep.Machine.GPUs[0])
	}
	eager := map[string]float64{}
	for _, r := range peer {
		if r.Schedule == "torch-eager" {
			eager[r.Precision] = r.TokensPerSec
		}
	}
	type row struct {
		Result
		run string
	}
	var rows []row
	for _, r := range rs {
		if r.Skipped == "" && r.P() == 1 {
			rows = append(rows, row{r, "baton " + r.Schedule})
		}
	}
	for _, r := range peer {
		rows = append(rows, row{r, peerRun(r)})
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Precision < rows[j].Precision })
	// The peer file does not say where it was measured: only a sweep on a
	// GPU can claim the GPU that scripts/torch_peer.py runs on.
	if len(rep.Machine.GPUs) > 0 {
		b.WriteString("## Beside PyTorch on the same GPU\n\n")
	} else {
		b.WriteString("## Beside PyTorch\n\nbaton ran on CPU devices; the peer file does not say where its rows were measured (`scripts/torch_peer.py` runs on a GPU or the CPU), so its ratios compare machines as much as programs.\n\n")
	}
	b.WriteString("One device and the same model; the rows not marked baton are the peer file's (`scripts/torch_peer.py` writes PyTorch's), named as it names them.")
	head, rule := "| model | run | precision | tokens/s | step ms | peak MiB | vs PyTorch eager |", "| --- | --- | --- | ---: | ---: | ---: | ---: |"
	if hasPeak {
		b.WriteString(" MFU is the model's training FLOPs (6N + 6LCT per token) per second against the GPU's dense peak in the row's precision.")
		head, rule = head+" MFU |", rule+" ---: |"
	}
	b.WriteString("\n\n" + head + "\n" + rule + "\n")
	for _, r := range rows {
		peak, ratio := "", ""
		if len(r.PeakBytes) > 0 {
			peak = fmt.Sprintf("%.1f", float64(r.PeakBytes[0])/(1<<20)) // as every point's table gives it
		}
		if e := eager[r.Precision]; e > 0 {
			ratio = fmt.Sprintf("%.2f×", r.TokensPerSec/e)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %.0f | %.1f | %s | %s |", r.Model, r.run, r.Precision, r.TokensPerSec, r.StepS*1000, peak, ratio)
		if hasPeak {
			mfu := ""
			if d := gpuPeak.Dense(r.Precision); d > 0 {
				mfu = fmt.Sprintf("%.1f%%", 100*r.TokensPerSec*o.Model.FLOPsPerToken(o.Model.MaxT)/d)
			}
			fmt.Fprintf(b, " %s |", mfu)
		}
		b.WriteString("\n")
	}
	if len(other) > 0 {
		list := make([]string, len(other))
		for i, r := range other {
			list[i] = fmt.Sprintf("`%s` %s %s, p=%d, %.0f tokens/s", r.Model, peerRun(r), r.Precision, r.P(), r.TokensPerSec)
		}
		fmt.Fprintf(b, "\nNot compared, being of another model than `%s` or of several devices: %s.\n", o.Preset, strings.Join(list, "; "))
	}
	b.WriteString("\n")
}

// peerRun names a peer row's run as the file does: PyTorch's modes by
// name, anything else by its schedule cell.
func peerRun(r Result) string {
	if mode, ok := strings.CutPrefix(r.Schedule, "torch-"); ok {
		return "PyTorch " + mode
	}
	return r.Schedule
}

// OfPrecision keeps the results of one precision (and those that name none).
func OfPrecision(rs []Result, prec string) []Result {
	var out []Result
	for _, r := range rs {
		if r.Precision == prec || r.Precision == "" {
			out = append(out, r)
		}
	}
	return out
}

// SweepHeadline is the headline of a sweep's first precision, the one the
// report's tables lead with, named when the sweep had several: the same in
// the report and in what bench prints.
func SweepHeadline(o Options, rs []Result) string {
	prec := o.precisions()
	h := Headline(OfPrecision(rs, prec[0].String()))
	if h != "" && len(prec) > 1 {
		h = prec[0].String() + ": " + h
	}
	return h
}

// Headline sums up the textbook case and the best schedule at the widest p.
func Headline(rs []Result) string {
	var parts []string
	naive := Ran(rs, "naive")
	if n := len(naive); n > 0 && naive[n-1].P() > 1 {
		r := naive[n-1]
		parts = append(parts, fmt.Sprintf("naive on %d devices idles %.1f%% (analytic %.1f%%)", r.P(), r.BubbleMeasured*100, r.BubbleAnalytic*100))
	}
	var best *Result
	p := maxP(rs)
	for i, r := range rs {
		if r.Skipped == "" && r.P() == p && p > 1 && r.Schedule != "naive" && (best == nil || r.BubbleMeasured < best.BubbleMeasured) {
			best = &rs[i]
		}
	}
	if best != nil {
		parts = append(parts, fmt.Sprintf("the least idle schedule on %d devices is %s with m=%d at %.1f%% (analytic %.1f%%), %.0f tokens/s", p, best.Schedule, best.Microbatches, best.BubbleMeasured*100, best.BubbleAnalytic*100, best.TokensPerSec))
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, "; ") + "."
}

// Ran returns the points of a schedule that ran, in sweep order.
func Ran(rs []Result, schedule string) []Result {
	var out []Result
	for _, r := range rs {
		if r.Skipped == "" && r.Schedule == schedule {
			out = append(out, r)
		}
	}
	return out
}

func percents(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf("%.1f%%", x*100)
	}
	return strings.Join(s, ", ")
}

// corpus names what the points trained on: --data, or as much of the
// default corpus as --data-limit took (0: all of it).
func corpus(o Options) string {
	switch {
	case o.Data != "":
		return o.Data
	case o.DataLimit == 0:
		return "all of the Go standard library sources"
	}
	return model.HumanBytes(o.DataLimit) + " sampled from the Go standard library sources"
}
