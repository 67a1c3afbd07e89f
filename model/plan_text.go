// A plan as text: its table, and the small formatters of counts, sizes and ranges it uses.

package model

import (
	"baton/internal/words"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
)

// String is a table: one row per stage with its layers, parameters, memory
// estimates (fp32 and tf32 alike; bf16 an estimate of what is not trained
// yet) and share of the FLOPs. The header lists the stashes each stage's
// estimate counts, which differ by stage under most schedules.
func (p *Plan) String() string {
	var total float64
	for _, s := range p.Stages {
		total += s.FLOPsPerToken
	}
	var b strings.Builder
	fmt.Fprintf(&b, "plan: %s %s, split %s; memory for micro-batches of B=%d T=%d, stashes %s\n",
		words.Count(p.Config.L, "layer"), p.placement(), JoinInts(p.Split()), p.B, p.T, JoinInts(p.Stashes()))
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "stage\tdevice\tlayers\tparams\tmemory fp32/tf32\tbf16\tFLOPs")
	for _, s := range p.Stages {
		layers := LayerRange(s.FirstLayer, s.LastLayer)
		if s.Embed {
			layers += " +embed"
		}
		if s.Head {
			layers += " +head"
		}
		share := 0.0
		if total > 0 {
			share = 100 * s.FLOPsPerToken / total
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%.1f%%\n", s.Index, s.Device, layers, humanCount(s.Params), HumanBytes(s.MemBytes), HumanBytes(s.MemBytesBF16), share)
	}
	w.Flush()
	return b.String()
}

// placement says where the stages run: "on 2 devices", or "in 4 stages on
// 2 devices" where a device holds several (interleaving), so that stages
// are not counted as devices.
func (p *Plan) placement() string {
	n := p.Devices()
	if n == len(p.Stages) {
		return "on " + words.Count(n, "device")
	}
	return fmt.Sprintf("in %d stages on %s", len(p.Stages), words.Count(n, "device"))
}

// runsOf lists device d's runs of layers in m, e.g. "0-1, 4", as the idle report writes them.
func runsOf(m []int, d int) string {
	var parts []string
	for l := 0; l < len(m); l++ {
		if m[l] != d {
			continue
		}
		end := l
		for end+1 < len(m) && m[end+1] == d {
			end++
		}
		parts = append(parts, LayerRange(l, end))
		l = end
	}
	return strings.Join(parts, ", ")
}

// LayerRange names the blocks first to last as the plan's table does:
// "3-5", or "3" for one.
func LayerRange(first, last int) string {
	if first == last {
		return strconv.Itoa(first)
	}
	return fmt.Sprintf("%d-%d", first, last)
}

// JoinInts writes a split as the flags take it: "6,6,6,6".
func JoinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// humanCount writes a parameter count as 124.4M.
func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return strconv.FormatInt(n, 10)
}

// HumanBytes writes a size in binary units, as 1.50 GiB.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n)/unit, 0
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.2f %ciB", f, "KMGTP"[i])
}
