// Per-layer timing: with ProfileLayers every compute action times each of its stage's units once, in the order it runs them; without, none.

package runtime

import (
	"fmt"
	"slices"
	"testing"

	"baton/runtime/report"
	"baton/runtime/schedule"
)

// wantUnits is the order in which a stage's action of kind k runs its units.
func wantUnits(pl *pipeline, stage int, k schedule.Kind) []int {
	spec := pl.stages[stage].Stack.Spec()
	var blocks []int
	for l := spec.FirstBlock; l < spec.FirstBlock+spec.NumBlocks; l++ {
		blocks = append(blocks, l+1)
	}
	var out []int
	switch k {
	case schedule.F:
		if spec.Embed {
			out = append(out, 0)
		}
		out = append(out, blocks...)
		if spec.Head {
			out = append(out, eqModel.HeadUnit())
		}
	default: // backwards run the blocks last to first; the embedding's gradient ends B and W
		slices.Reverse(blocks)
		out = blocks
		if spec.Embed && k != schedule.I {
			out = append(out, 0)
		}
	}
	return out
}

func TestProfileLayersTimesEveryUnitOnce(t *testing.T) {
	for _, name := range []string{"1f1b", "zb-h1"} {
		t.Run(name, func(t *testing.T) {
			pl := newPipeline(t, eqModel, name, 2, 2, eqBatch)
			pl.in.ProfileLayers = true
			res := pl.step(t)
			for _, recs := range res.Records {
				for _, r := range recs {
					var got []int
					var sum float64
					for _, u := range r.Units {
						got = append(got, u.Unit)
						sum += u.Time.Seconds()
					}
					if !r.Action.Kind.IsCompute() {
						if len(got) > 0 {
							t.Errorf("%s timed units %v", r.Action, got)
						}
						continue
					}
					if want := wantUnits(pl, r.Action.Stage, r.Action.Kind); !slices.Equal(got, want) {
						t.Errorf("%s timed units %v, want %v", r.Action, got, want)
					}
					if span := (r.End - r.Start).Seconds(); sum > span*1.0001 {
						t.Errorf("%s: its units took %.6fs, more than the action's %.6fs", r.Action, sum, span)
					}
				}
			}
			costs := report.LayerCosts([]*report.Step{&res.Step}, eqModel.UnitName)
			if len(costs) != eqModel.Units() || costs[0].Name != "embedding" || costs[len(costs)-1].Name != "head" || costs[0].Device != 0 || costs[len(costs)-1].Device != 1 {
				t.Errorf("layer costs %+v: want every unit once, the embedding on device 0 and the head on 1", costs)
			}
			pl.in.ProfileLayers = false
			for _, recs := range pl.step(t).Records {
				for _, r := range recs {
					if len(r.Units) > 0 {
						t.Fatalf("%s timed units without ProfileLayers", r.Action)
					}
				}
			}
		})
	}
}

// BenchmarkProfileLayers is the cost of timing every unit: a step of the
// equivalence model on 2 devices with and without ProfileLayers.
func BenchmarkProfileLayers(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("profile=%v", on), func(b *testing.B) {
			pl := newPipeline(b, eqModel, "1f1b", 2, 4, eqBatch)
			pl.in.ProfileLayers = on
			pl.step(b)
			b.ResetTimer()
			for range b.N {
				pl.step(b)
			}
		})
	}
}
