// Micro-batches in flight per stage: how many activation stashes a schedule makes each stage hold at once.

package runtime

// PeakInFlight is, per stage, the largest number of micro-batches whose
// forward has run and whose backward has not finished (B, or W when the
// backward is split into I and W), following the lists in order. It bounds
// the activations a stage stashes: m for gpipe, min(p−s, m) for 1f1b,
// min(p, m) for zb-h1, min(2p−1, m) for zb-h2. It is per stage, not per device: with
// chunks a device stashes at most the sum over its stages, each 1/v of its
// layers.
// Actions of stages out of range are ignored (Validate reports them).
func (s *Schedule) PeakInFlight() []int {
	now := make([]int, s.Stages)
	peak := make([]int, s.Stages)
	for _, list := range s.Lists {
		for _, a := range list {
			if a.Stage < 0 || a.Stage >= s.Stages {
				continue
			}
			switch a.Kind {
			case F:
				now[a.Stage]++
				peak[a.Stage] = max(peak[a.Stage], now[a.Stage])
			case B, W:
				now[a.Stage]--
			}
		}
	}
	return peak
}
