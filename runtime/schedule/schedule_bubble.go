// The analytic bubble: the idle fraction each schedule has in theory, for uniform costs and free communication.

package schedule

import (
	"math"
	"strings"
)

// AnalyticBubble is AnalyticBubbleChunks with one chunk per device.
func AnalyticBubble(name string, p, m int) float64 { return AnalyticBubbleChunks(name, p, m, 1) }

// AnalyticBubble is the analytic bubble of s's generator at s's sizes. A
// schedule read from a file has no formula; its analytic bubble is what the
// formulas agree with, Simulate's bubble under UniformCost(1, 2), so that a
// report can set it beside the measured one (NaN if s does not simulate).
func (s *Schedule) AnalyticBubble() float64 {
	if !strings.HasPrefix(s.Name, FilePrefix) {
		return AnalyticBubbleChunks(s.Name, s.Devices, s.Microbatches, s.Chunks)
	}
	tl, err := Simulate(Lower(s), UniformCost(1, 2))
	if err != nil {
		return math.NaN()
	}
	return tl.Bubble
}

// AnalyticBubbleChunks is the fraction of a step each device sits idle
// under the named schedule with p devices, m micro-batches and v chunks per
// device, when every forward costs the same, every backward costs the same
// and communication is free (Simulate's Bubble, one step on its own). Each
// row of the trait table has its own, and prints it as its Formula:
//
//	naive:        (p−1)/p          one micro-batch: each device works 1/p of the step
//	gpipe, 1f1b:  (p−1)/(m+p−1)    p−1 slots of ramp-up and drain around m of work
//	interleaved:  (p−1)/(vm+p−1)   the ramp is p−1 chunk slots, each 1/v of a stage slot,
//	                               around vm of them: the bubble (p−1)/(vm) of compute
//	zb-h1, zb-h2: e/(3m+e), e = p−1+max(0, p−m)
//
// The zero-bubble forms hold for the costs their generator plans with,
// F = I = W (UniformCost(f, 2f)), with every device computing 3m. They are
// closed forms of what the list scheduler makes, which the sweep test checks
// for p ≤ 8 and m ≤ 32, not bounds proven for every size. Both reach the
// floor of one step once m ≥ p: p−1 idle slots per device (the last stage
// cannot start sooner), where 1f1b has 3(p−1). zb-h2's zero bubble only
// shows when steps overlap: see Timeline.SteadyBubble.
//
// It is NaN for an unknown name, p, m or v < 1, v > 1 for a schedule
// without chunks, or sizes the generator rejects (an interleaved m that is
// not a multiple of p).
func AnalyticBubbleChunks(name string, p, m, v int) float64 {
	t, err := Lookup(name)
	if err != nil || p < 1 || m < 1 || v < 1 || v > 1 && !t.Chunked || t.check != nil && t.check(p, m, v) != nil {
		return math.NaN()
	}
	return t.bubble(p, m, v)
}

// rampBubble is gpipe's and 1f1b's: p−1 slots of ramp-up and drain around m.
func rampBubble(p, m, _ int) float64 { return float64(p-1) / float64(m+p-1) }

// zeroBubbleFormula is zeroBubbleIdle as printed.
const zeroBubbleFormula = "e/(3m+e), e = p-1+max(0,p-m)"

// zeroBubbleIdle is zb-h1's and zb-h2's: e idle slots beside 3m of work.
func zeroBubbleIdle(p, m, _ int) float64 {
	e := p - 1 + max(0, p-m)
	return float64(e) / float64(3*m+e)
}
