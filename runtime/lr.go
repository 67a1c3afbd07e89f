// The learning-rate schedule: linear warm-up, then cosine decay to a floor.

package runtime

import "math"

// LRSchedule gives the learning rate of each 1-based step.
type LRSchedule struct {
	Max, Min    float32 // peak and final rate
	Warmup, End int     // steps of warm-up; the step where decay reaches Min
}

// At is the rate of step t: Max·t/Warmup during warm-up, then a cosine from
// Max down to Min at End (nanoGPT's schedule), Min after.
func (s LRSchedule) At(t int) float32 {
	if t <= s.Warmup {
		return s.Max * float32(t) / float32(max(s.Warmup, 1))
	}
	if t >= s.End {
		return s.Min
	}
	frac := float64(t-s.Warmup) / float64(s.End-s.Warmup)
	return s.Min + float32(0.5*(1+math.Cos(math.Pi*frac)))*(s.Max-s.Min)
}

// lrSchedule is the run's schedule, its cosine ending at the run's last step.
func (c TrainConfig) lrSchedule() LRSchedule {
	return LRSchedule{Max: c.LR, Min: c.MinLR, Warmup: c.Warmup, End: c.Steps}
}
