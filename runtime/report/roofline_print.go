// The roofline in words: the step's line of the text report and, when the kernels were timed, the largest gaps.

package report

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// TopGaps is how many kernels Print lists.
const TopGaps = 5

// Print writes the step's line and, with measured kernels, the TopGaps
// kernels furthest from their bound (by measured time where there is none).
func (r *Roofline) Print(w io.Writer) {
	work := fmt.Sprintf("%s and %s per step, %s measured", si(r.FLOPs, "FLOP"), si(r.Bytes, "B"), si(r.StepS, "s"))
	if r.Note != "" {
		fmt.Fprintf(w, "roofline: %s; %s\n", work, r.Note)
	} else {
		this := "this GPU allows"
		if r.GPUs > 1 {
			this = fmt.Sprintf("these %d GPUs allow", r.GPUs)
		}
		fmt.Fprintf(w, "roofline: %s, %s allowed by %s (%s): %.0f%% of what %s\n", work, si(r.BoundS, "s"), r.Device, r.Precision, 100*r.Fraction, this)
	}
	var timed []RooflineKernel
	for _, k := range r.Kernels {
		if k.MeasuredS != nil {
			timed = append(timed, k)
		}
	}
	if len(timed) == 0 {
		return
	}
	gap := func(k RooflineKernel) float64 { return *k.MeasuredS - k.BoundS }
	slices.SortStableFunc(timed, func(a, b RooflineKernel) int { return cmp.Compare(gap(b), gap(a)) })
	what := "largest gaps, measured − allowed"
	if r.Note != "" {
		what = "largest measured"
	}
	of := ""
	if r.KernelsOf != "" {
		of = " (" + r.KernelsOf + ")"
	}
	fmt.Fprintf(w, "kernels: %s per step inside kernels, summed over devices%s; %s:\n", si(r.KernelS, "s"), of, what)
	for _, k := range timed[:min(TopGaps, len(timed))] {
		bound := ""
		if k.Bound != "" {
			bound = fmt.Sprintf(", %s allowed (%s-bound, %.0f%%)", si(k.BoundS, "s"), k.Bound, 100*k.BoundS / *k.MeasuredS)
		}
		fmt.Fprintf(w, "  %-28s %-30s %6s calls  %s measured%s  [%s]\n", k.Op, k.Shape, strconv.FormatFloat(k.Calls, 'f', -1, 64), si(*k.MeasuredS, "s"), bound, k.Where)
	}
}

// si writes v with an SI prefix: "1.23 GFLOP", "4.56 ms".
func si(v float64, unit string) string {
	if v == 0 {
		return "0 " + unit
	}
	prefixes := []struct {
		scale float64
		p     string
	}{{1e15, "P"}, {1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}, {1, ""}, {1e-3, "m"}, {1e-6, "µ"}, {1e-9, "n"}}
	for _, p := range prefixes {
		if v >= p.scale || p.scale == 1e-9 {
			return fmt.Sprintf("%.3g %s%s", v/p.scale, p.p, unit)
		}
	}
	return ""
}
