// The analytic bubble: the idle fraction each schedule has in theory, for uniform costs and free communication.

package schedule

import (
	"math"
	"strings"
)

// AnalyticBubble is AnalyticBubbleChunks with one chunk per device.
func AnalyticBubble(name string, p, m int) float64 { return AnalyticBubbleChunks(name, p, m, 1) }

// AnalyticBubble is the analytic bubble of s's generator at s's sizes.
func (s *Schedule) AnalyticBubble() float64 {
	return AnalyticBubbleChunks(s.Name, s.Devices, s.Microbatches, s.Chunks)
}

// AnalyticBubbleChunks is the fraction of a step each device sits idle
// under the named schedule with p devices, m micro-batches and v chunks per
// device, when every forward costs the same, every backward costs the same
// and communication is free (Simulate's Bubble, one step on its own):
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
// without chunks, or an interleaved m that is not a multiple of p.
func AnalyticBubbleChunks(name string, p, m, v int) float64 {
	key := strings.ToLower(name)
	if p < 1 || m < 1 || v < 1 || v > 1 && key != "interleaved" || checkInterleaved(p, m, v) != nil {
		return math.NaN()
	}
	idle := func(e int) float64 { return float64(e) / float64(3*m+e) }
	switch key {
	case "naive":
		return float64(p-1) / float64(p)
	case "gpipe", "1f1b":
		return float64(p-1) / float64(m+p-1)
	case "interleaved":
		return float64(p-1) / float64(v*m+p-1)
	case "zb-h1", "zb-h2":
		return idle(p - 1 + max(0, p-m))
	}
	return math.NaN()
}
