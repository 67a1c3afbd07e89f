// The replay prices blocks per device: a slow device's blocks cost what it measured wherever the split puts them, and the balanced split gives it fewer.

package report

import (
	"math"
	"slices"
	"testing"

	"baton/model"
)

var replayModel = model.Config{V: 64, MaxT: 8, C: 16, NH: 2, L: 8}

// slowSecond are per-unit costs of replayModel split 2,2,2,2 over four
// devices with device 1 four times slower: milliseconds of F and B.
func slowSecond() []LayerCost {
	ms := func(x float64) float64 { return x / 1e3 }
	costs := []LayerCost{{Unit: 0, Name: "embedding", Device: 0, F: ms(1), B: ms(0.5)}}
	for l := range replayModel.L {
		d, k := l/2, 1.0
		if d == 1 {
			k = 4
		}
		costs = append(costs, LayerCost{Unit: l + 1, Name: replayModel.UnitName(l + 1), Device: d, F: ms(k), B: ms(2 * k)})
	}
	return append(costs, LayerCost{Unit: replayModel.HeadUnit(), Name: "head", Device: 3, F: ms(3)})
}

func slowReplay(t *testing.T, m int) *Replay {
	t.Helper()
	plan, err := model.Partition(replayModel, []string{"d0", "d1", "d2", "d3"}, model.PlanOptions{Split: []int{2, 2, 2, 2}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReplay(replayModel, 8, 8, m, plan, make([]StageCost, 4), slowSecond())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestReplayPricesEachDevicesBlocks: naive runs one micro-batch through the
// stages in turn, so its step is every stage's F and B added up, each
// block priced on the device the split gives it.
func TestReplayPricesEachDevicesBlocks(t *testing.T) {
	r := slowReplay(t, 1)
	for _, c := range []struct {
		split []int
		want  float64 // ms: F + B of each stage
	}{
		{[]int{2, 2, 2, 2}, (1 + 2 + 0.5 + 4) + (8 + 16) + (2 + 4) + (2 + 3 + 4)},
		{[]int{3, 1, 2, 2}, (1 + 3 + 0.5 + 6) + (4 + 8) + (2 + 4) + (2 + 3 + 4)},
		{[]int{1, 1, 1, 5}, (1 + 1 + 0.5 + 2) + (4 + 8) + (1 + 2) + (5 + 3 + 10)},
	} {
		p, err := r.Predict(Choice{Schedule: "naive", Devices: 4, Microbatches: 1, Split: c.split})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(p.StepS*1e3-c.want) > 1e-9 {
			t.Errorf("split %v: predicted %.6f ms, want %.6f", c.split, p.StepS*1e3, c.want)
		}
	}
}

func TestBalancedSplitUnloadsTheSlowDevice(t *testing.T) {
	r := slowReplay(t, 4)
	split := r.BalancedSplit(4, 1, model.RecomputeNone, nil)
	// Stage costs F+B: d0 3k+1.5, d1 12k, d2 3k, d3 3k+3. With d1 holding
	// one block (12) the other seven go 3,2,2 or 2,2,3 at most 12.
	if !slices.Equal(split, []int{3, 1, 2, 2}) {
		t.Fatalf("balanced split %v, want 3,1,2,2", split)
	}
	even := Choice{Schedule: "1f1b", Devices: 4, Microbatches: 4, Split: []int{2, 2, 2, 2}}
	bal := even
	bal.Split = split
	a, err1 := r.Predict(even)
	b, err2 := r.Predict(bal)
	if err1 != nil || err2 != nil || b.StepS >= a.StepS*0.7 {
		t.Fatalf("balanced %v (%v) against even %v (%v): want at least 30%% shorter", b, err2, a, err1)
	}
	if fit := r.BalancedSplit(4, 1, model.RecomputeNone, func(s, k int) bool { return s != 0 || k <= 2 }); fit[0] > 2 {
		t.Errorf("with stage 0 capped at 2 blocks the split is %v", fit)
	}
	if none := r.BalancedSplit(4, 1, model.RecomputeNone, func(int, int) bool { return false }); none != nil {
		t.Errorf("with nothing fitting the split is %v, want none", none)
	}
}

// TestSearchKeepsToTheMemoryLimit: below the least memory any choice
// needs without recomputation, the search finds only choices that
// recompute, each within the limit; above it, among equally fast choices,
// it puts first the one that recomputes nothing.
func TestSearchKeepsToTheMemoryLimit(t *testing.T) {
	r := slowReplay(t, 4)
	all := r.Search(Space{Devices: 4})
	if len(all) == 0 || all[0].StepS > all[len(all)-1].StepS {
		t.Fatalf("%d choices, not fastest first", len(all))
	}
	least := slices.Max(all[0].PeakBytes)
	for _, c := range all {
		least = min(least, slices.Max(c.PeakBytes))
		if c.Recompute != model.RecomputeNone {
			t.Fatalf("without a memory limit the search recomputes: %s", c.Choice)
		}
	}
	// With room for all, recomputing is no faster (GELU's rebuild costs no
	// time here): the fastest choice recomputes nothing, though a
	// recomputing one as fast needs less memory.
	if roomy := r.Search(Space{Devices: 4, Capacity: 1 << 50}); roomy[0].Recompute != model.RecomputeNone {
		t.Errorf("with room for every choice the search's first recomputes: %s", roomy[0].Choice)
	}
	limited := r.Search(Space{Devices: 4, Capacity: least - 1})
	if len(limited) == 0 {
		t.Fatal("nothing fits one byte below the least memory; recomputation should")
	}
	for _, c := range limited {
		if c.Recompute == model.RecomputeNone || slices.Max(c.PeakBytes) > least-1 {
			t.Errorf("%s needs %d bytes, over the limit %d or without recomputation", c.Choice, slices.Max(c.PeakBytes), least-1)
		}
	}
}

// TestOnDevicesReprices: on other devices each block costs what from
// names, scaled; a device the run lacked costs the mean of the run's with
// their slow-downs removed. Naive's step adds every stage's F and B, as
// in TestReplayPricesEachDevicesBlocks.
func TestOnDevicesReprices(t *testing.T) {
	// The run's device 1 was slowed 4 times: its unslowed cost is device 0's.
	r := slowReplay(t, 1).OnDevices([]int{0, 1, -1, 3}, []float64{1, 0.25, 2, 1}, []float64{1, 4, 1, 1})
	p, err := r.Predict(Choice{Schedule: "naive", Devices: 4, Microbatches: 1, Split: []int{2, 2, 2, 2}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (1 + 2 + 0.5 + 4) + (2 + 4) + 2*(2+4) + (2 + 3 + 4); math.Abs(p.StepS*1e3-want) > 1e-9 {
		t.Errorf("predicted %.6f ms, want %.6f", p.StepS*1e3, want)
	}
}

// TestEagerOptimizerMemoryIsCounted: a run that stepped its optimizer
// eagerly keeps a copy of parameters and moments, which every choice's
// memory must count.
func TestEagerOptimizerMemoryIsCounted(t *testing.T) {
	peak := func(eager bool) int64 {
		plan, err := model.Partition(replayModel, []string{"d0", "d1", "d2", "d3"}, model.PlanOptions{Split: []int{2, 2, 2, 2}, EagerOptimizer: eager})
		if err != nil {
			t.Fatal(err)
		}
		r, err := NewReplay(replayModel, 8, 8, 1, plan, make([]StageCost, 4), slowSecond())
		if err != nil {
			t.Fatal(err)
		}
		p, err := r.Predict(Choice{Schedule: "1f1b", Devices: 4, Microbatches: 4, Split: []int{2, 2, 2, 2}})
		if err != nil {
			t.Fatal(err)
		}
		return p.PeakBytes[1]
	}
	blocks := 2 * replayModel.BlockParams()
	if plain, eager := peak(false), peak(true); eager-plain < 12*blocks {
		t.Errorf("device 1 (2 blocks) peaks at %d bytes eagerly, %d by default; want at least 12 bytes per parameter more (%d; buffers are aligned)", eager, plain, 12*blocks)
	}
}

// TestReplayCountsTheRunsPrecisionAndVocabulary: a bf16 run's choices are
// weighed by their bf16 memory, both as priced and as balanced within a
// device's memory; and a vocabulary the model pads adds the head's mask
// to the last device alone.
func TestReplayCountsTheRunsPrecisionAndVocabulary(t *testing.T) {
	even := Choice{Schedule: "1f1b", Devices: 4, Microbatches: 4, Chunks: 1, Split: []int{2, 2, 2, 2}}
	replay := func(vocab int, prec string) (*Replay, []int64) {
		t.Helper()
		plan, err := model.Partition(replayModel, []string{"d0", "d1", "d2", "d3"}, model.PlanOptions{Split: []int{2, 2, 2, 2}, Vocab: vocab})
		if err != nil {
			t.Fatal(err)
		}
		r, err := NewReplay(replayModel, 8, 8, 4, plan, make([]StageCost, 4), slowSecond())
		if err != nil {
			t.Fatal(err)
		}
		r.Precision = prec
		p, err := r.Predict(even)
		if err != nil {
			t.Fatal(err)
		}
		return r, p.PeakBytes
	}
	_, fp32 := replay(0, "")
	r, bf16 := replay(0, "bf16")
	if slices.Max(bf16) >= slices.Min(fp32) {
		t.Fatalf("%v bytes in bf16, not all below fp32's %v", bf16, fp32)
	}
	// Within the even split's own bf16 peak, the balancing (fitsIn, as
	// Search and the diagnosis weigh splits) takes its stages' blocks.
	fits := r.fitsIn(even, slices.Max(bf16))
	for s := range 4 {
		if !fits(s, 2) {
			t.Errorf("stage %d does not hold its 2 blocks within the %d bytes the split needs in bf16", s, slices.Max(bf16))
		}
	}
	rm, masked := replay(50, "bf16")
	if !slices.Equal(masked[:3], bf16[:3]) || masked[3] <= bf16[3] {
		t.Errorf("with 50 of 64 ids: %v bytes, against %v unpadded: want more on the last device alone", masked, bf16)
	}
	if rm.fitsIn(even, masked[3]-1)(3, 2) {
		t.Errorf("with 50 of 64 ids, the last stage's 2 blocks fit in a byte less than the %d it needs", masked[3])
	}
}
