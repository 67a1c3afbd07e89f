// A move hands back the memory of the stages it drops: a device's peak is the most it held at once, not every split's memory added up.

package runtime

import (
	"path/filepath"
	"testing"
)

// TestMovesFreeTheStagesTheyDrop: a run on CPU devices moved twice (4,4 →
// 5,3 → 6,2), a step on each split. After the moves each device holds what
// a run on 6,2 from the start holds, and its peak is at most what it held
// on the two splits around one move (the old stage still whole while the
// new one is built), not all three splits' memory added up.
func TestMovesFreeTheStagesTheyDrop(t *testing.T) { movesFreeTheStagesTheyDrop(t, "cpu:0,cpu:1") }

// movesFreeTheStagesTheyDrop is TestMovesFreeTheStagesTheyDrop on two devices.
func movesFreeTheStagesTheyDrop(t *testing.T, devices string) {
	data := corpus(t)
	splits := [][]int{{4, 4}, {5, 3}, {6, 2}}
	open := func(split []int) *Trainer {
		cfg := resumeConfig(t, data, filepath.Join(t.TempDir(), "run"), devices, 8)
		cfg.Model.L, cfg.Microbatches, cfg.Split = 8, 4, split
		tr, err := NewTrainer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	step := func(tr *Trainer, n int) {
		in := tr.stepInput()
		in.AdamStep, in.Adam.LR = n, tr.cfg.LR
		if _, err := tr.trainStep(in, nil); err != nil {
			t.Fatal(err)
		}
	}
	// held[i][d]: device d's bytes after a step of a run on splits[i] from the start.
	held := make([][]int64, len(splits))
	for i, split := range splits {
		tr := open(split)
		step(tr, 1)
		for _, dev := range tr.ex.Devices {
			live, _ := dev.Memory()
			held[i] = append(held[i], live)
		}
		tr.Close()
	}

	tr := open(splits[0])
	defer tr.Close()
	step(tr, 1)
	for i, split := range splits[1:] {
		if err := tr.resplit(split); err != nil {
			t.Fatal(err)
		}
		step(tr, i+2)
	}
	for d, dev := range tr.ex.Devices {
		live, peak := dev.Memory()
		var most, all int64
		for i := range splits {
			all += held[i][d]
			if i > 0 {
				most = max(most, held[i-1][d]+held[i][d])
			}
		}
		if live != held[len(splits)-1][d] {
			t.Errorf("%s: %d bytes live after the moves, want the %d of a run on %v from the start", dev.Name(), live, held[len(splits)-1][d], splits[len(splits)-1])
		}
		if peak > most {
			t.Errorf("%s: peak %d bytes, want at most %d, the most two splits in a row hold (all three: %d)", dev.Name(), peak, most, all)
		}
	}
}
