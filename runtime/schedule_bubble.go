// The analytic bubble: the idle fraction each schedule has in theory, for uniform costs and free communication.
package runtime

import (
	"math"
	"strings"
)

// AnalyticBubble is the fraction of a step each device sits idle under the
// named schedule with p devices and m micro-batches, when every forward costs
// the same, every backward costs the same and communication is free:
//
//	naive:        (p−1)/p        (one micro-batch: each device works 1/p of the step)
//	gpipe, 1f1b:  (p−1)/(m+p−1)  (p−1 slots of ramp-up and drain around m of work)
//
// It is NaN for an unknown name, p < 1 or m < 1.
func AnalyticBubble(name string, p, m int) float64 {
	if p < 1 || m < 1 {
		return math.NaN()
	}
	switch strings.ToLower(name) {
	case "naive":
		return float64(p-1) / float64(p)
	case "gpipe", "1f1b":
		return float64(p-1) / float64(m+p-1)
	}
	return math.NaN()
}
