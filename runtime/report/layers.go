// Per-layer costs: the units' times inside compute actions (--profile-layers), averaged per unit and action kind.

package report

import (
	"slices"

	"baton/runtime/schedule"
)

// LayerCost is one unit's mean measured time per micro-batch, in seconds,
// on the device that ran it: F is its forward (the head's holds its fused
// backward), B a full backward, I and W the halves of a split one.
type LayerCost struct {
	Unit   int     `json:"unit"`
	Name   string  `json:"name"` // "embedding", "h.3", "head"
	Device int     `json:"device"`
	F      float64 `json:"f_s"`
	B      float64 `json:"b_s,omitempty"`
	I      float64 `json:"i_s,omitempty"`
	W      float64 `json:"w_s,omitempty"`
}

// LayerCosts averages the unit times of the steps' compute actions; name
// names a unit. Nil when no step timed its layers.
func LayerCosts(steps []*Step, name func(unit int) string) []LayerCost {
	type acc struct {
		device int
		sum, n [schedule.NumKinds]float64
	}
	units := map[int]*acc{}
	for _, st := range steps {
		for d, recs := range st.Records {
			for _, r := range recs {
				for _, u := range r.Units {
					a := units[u.Unit]
					if a == nil {
						a = &acc{device: d}
						units[u.Unit] = a
					}
					a.sum[r.Action.Kind] += u.Time.Seconds()
					a.n[r.Action.Kind]++
				}
			}
		}
	}
	if len(units) == 0 {
		return nil
	}
	// A unit runs once per micro-batch and kind; counting per kind makes
	// the mean per micro-batch whatever the kinds' counts.
	out := make([]LayerCost, 0, len(units))
	for u, a := range units {
		mean := func(k schedule.Kind) float64 {
			if a.n[k] == 0 {
				return 0
			}
			return a.sum[k] / a.n[k]
		}
		out = append(out, LayerCost{Unit: u, Name: name(u), Device: a.device, F: mean(schedule.F), B: mean(schedule.B), I: mean(schedule.I), W: mean(schedule.W)})
	}
	slices.SortFunc(out, func(a, b LayerCost) int { return a.Unit - b.Unit })
	return out
}
