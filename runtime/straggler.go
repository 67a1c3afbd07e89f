// Stragglers: a device whose median compute time per step drifts above its own earlier median while the others' does not.

package runtime

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Straggler is one warning, as summary.json records it.
type Straggler struct {
	Step    int     `json:"step"`
	Device  string  `json:"device"`
	RecentS float64 `json:"recent_s"` // median compute per step over the last stragglerRecent steps
	BeforeS float64 `json:"before_s"` // over the stragglerBase steps before them
	Others  float64 `json:"others"`   // the median drift of the other devices, a ratio
}

const (
	stragglerBase   = 10  // steps a device's own median is taken over
	stragglerRecent = 3   // steps whose median is compared with it
	stragglerDrift  = 1.3 // recent/before above which a device straggles…
	stragglerApart  = 1.2 // …and by this much more than the median device drifted
	stragglerQuiet  = 50  // steps before the same device is warned about again
	// stragglerFloor is the least slow-down per step worth a warning: a
	// step of a few milliseconds drifts by more than the ratios above on
	// any shared machine.
	stragglerFloor = 5 * time.Millisecond
)

// stragglers keeps each device's compute time per step.
type stragglers struct {
	names   []string
	compute [][]float64 // per device: its compute seconds of the last stragglerBase+stragglerRecent steps
	quiet   []int       // per device: the step before which it is not warned about again
	found   []Straggler
	drift   []float64 // per device: recent/before, NaN without a full window (observe's, kept for its array)
	recent  []float64 // per device: its median compute of the last stragglerRecent steps (observe's)
	before  []float64 // per device: of the stragglerBase steps before them (observe's)
	rest    []float64 // the others' drifts (observe's, kept for its array)
	sorted  []float64 // a window being sorted for its median (observe's, kept for its array)
}

func newStragglers(names []string) *stragglers {
	const window = stragglerBase + stragglerRecent
	s := &stragglers{names: names, compute: make([][]float64, len(names)), quiet: make([]int, len(names)),
		drift: make([]float64, len(names)), recent: make([]float64, len(names)), before: make([]float64, len(names)), rest: make([]float64, 0, len(names)), sorted: make([]float64, 0, window)}
	for d := range s.compute {
		s.compute[d] = make([]float64, 0, window+1)
	}
	return s
}

// reset forgets the history: the stages changed (a rebalance).
func (s *stragglers) reset() {
	for d := range s.compute {
		s.compute[d] = s.compute[d][:0]
	}
}

// observe adds step's compute times and returns a warning, or "".
func (s *stragglers) observe(step int, res *StepResult) string {
	const window = stragglerBase + stragglerRecent
	for d, recs := range res.Records {
		if len(recs) == 0 {
			continue // another rank's device: that rank watches it
		}
		var c time.Duration
		for _, r := range recs {
			if r.Action.Kind.IsCompute() {
				c += r.End - r.Start
			}
		}
		if len(s.compute[d]) == window { // shifted in place: its array stays
			s.compute[d] = append(s.compute[d][:0], s.compute[d][1:]...)
		}
		s.compute[d] = append(s.compute[d], c.Seconds())
	}
	// Medians, not means: one long step (the process stopped with Ctrl-Z,
	// a debugger, a page-in) is no straggler; a device that stays slow is.
	drift := s.drift // the devices watched here with a full window; NaN the others
	for d, c := range s.compute {
		drift[d] = math.NaN()
		if len(c) == window {
			s.recent[d], s.before[d] = s.median(c[stragglerBase:]), s.median(c[:stragglerBase])
			drift[d] = s.recent[d] / s.before[d]
		}
	}
	var msgs []string
	for d := range s.compute {
		r := drift[d]
		if math.IsNaN(r) {
			continue
		}
		rest := s.rest[:0]
		for e, x := range drift {
			if e != d && !math.IsNaN(x) {
				rest = append(rest, x)
			}
		}
		others := median(rest)
		recent, before := s.recent[d], s.before[d]
		gap := time.Duration((recent - before) * float64(time.Second))
		if r < stragglerDrift || r < stragglerApart*others || gap < stragglerFloor || step < s.quiet[d] {
			continue
		}
		st := Straggler{Step: step, Device: s.names[d], RecentS: recent, BeforeS: before, Others: others}
		s.found = append(s.found, st)
		s.quiet[d] = step + stragglerQuiet
		msgs = append(msgs, fmt.Sprintf("%s is straggling: it computed a median %.1f ms per step over the last %d steps, %.0f%% above its %.1f ms of the %d before (the other devices: %+.0f%%)",
			st.Device, 1e3*st.RecentS, stragglerRecent, 100*(r-1), 1e3*st.BeforeS, stragglerBase, 100*(others-1)))
	}
	return strings.Join(msgs, "; ")
}

// median is the median of xs, which is left as it was.
func (s *stragglers) median(xs []float64) float64 {
	s.sorted = append(s.sorted[:0], xs...)
	return median(s.sorted)
}

// median of xs, which it sorts; 1 (no drift among no devices) for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 1
	}
	slices.Sort(xs)
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}
