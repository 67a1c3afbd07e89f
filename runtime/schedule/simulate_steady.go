// The steady-state bubble: idle time per step when consecutive steps overlap instead of meeting at a barrier.

package schedule

// steady sets SteadyPeriod and SteadyBubble. Simulate's StepTime measures one
// step on its own: every device starts at 0 and the step ends when the last
// one is done, as when all stages meet before the optimizer (the global
// gradient norm does that). Without that barrier (each stage steps its own
// optimizer, as Zero Bubble's post-validation allows) a device starts the
// next step as soon as it is done with this one, so the step repeats with
// the period of its longest device span, from the device's first compute to
// its last action: shifting the whole timeline by that much keeps every
// device's steps apart and every dependency inside a step. The stagger at
// the start of a step then overlaps the tail of the one before: 1f1b gains
// nothing (device 0 works from the first slot to the last), while a
// parallelogram such as zb-h2's, where every device works without a gap
// for the same time, has a steady bubble of 0.
func (tl *Timeline) steady() {
	for _, acts := range tl.Actions {
		first := -1
		for i, a := range acts {
			if a.Action.Kind.IsCompute() {
				first = i
				break
			}
		}
		if first < 0 {
			continue
		}
		tl.SteadyPeriod = max(tl.SteadyPeriod, acts[len(acts)-1].End-acts[first].Start)
	}
	if tl.SteadyPeriod == 0 {
		return
	}
	for d := range tl.Actions {
		tl.SteadyBubble += (1 - tl.Busy[d]/tl.SteadyPeriod) / float64(len(tl.Actions))
	}
}
