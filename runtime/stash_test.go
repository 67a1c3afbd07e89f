// Tests of StashBound: its values for the classic schedules, and that the executor, reserving them, never needs more.

package runtime

import (
	"fmt"
	"testing"
	"time"

	"baton/runtime/schedule"
)

// 1f1b's stage s holds its p−s in flight plus the one its predecessor may
// send before the stage's release reaches it; gpipe's and naive's hold all
// their micro-batches. Stage 0 takes its own stashes: no bound.
func TestStashBoundClassic(t *testing.T) {
	for p := 1; p <= 8; p++ {
		for m := 1; m <= 16; m++ {
			for _, name := range []string{"1f1b", "gpipe", "naive"} {
				s, err := schedule.Generate(name, p, m)
				if err != nil {
					t.Fatal(err)
				}
				got := schedule.StashBound(schedule.Lower(s).Lists, p)
				for st := range p {
					want := 0
					switch {
					case st == 0:
					case name == "1f1b":
						want = min(p-st+1, m)
					default:
						want = s.Microbatches
					}
					if got[st] != want {
						t.Errorf("%s p=%d m=%d stage %d: bound %d, want %d (all %v)", name, p, m, st, got[st], want, got)
					}
				}
			}
		}
	}
}

// Every schedule, run by the executor on CPU devices: each stage after the
// first holds exactly the reserved stashes, and no transfer of a training
// step waited for one (the bound covers every timing, so none could).
// Evaluation runs under the same bound, its sends waiting when they must.
func TestStashBoundHolds(t *testing.T) {
	for _, name := range schedule.ScheduleNames {
		for _, p := range []int{2, 4} {
			for _, m := range []int{4, 8} {
				v := 1
				if name == "interleaved" {
					v = 2
				}
				t.Run(fmt.Sprintf("%s/p=%d/m=%d", name, p, m), func(t *testing.T) {
					pl := newChunkedPipeline(t, eqModel, name, p, m, v, 8)
					pl.ex.Timeout = 30 * time.Second // a bound too small would deadlock
					bound := schedule.StashBound(pl.ex.Sched.Lists, len(pl.stages))
					pl.step(t)
					pl.step(t)
					for s, st := range pl.stages[1:] {
						if got, waits := st.Stashes(), st.stashes.waited(); got != bound[s+1] || waits != 0 {
							t.Errorf("stage %d: %d stashes, %d waits; want the bound %d and none", s+1, got, waits, bound[s+1])
						}
					}
					if _, err := pl.ex.Evaluate(pl.in); err != nil {
						t.Fatal(err)
					}
					for s, st := range pl.stages[1:] {
						if got := st.Stashes(); got != bound[s+1] {
							t.Errorf("stage %d after evaluation: %d stashes, want %d", s+1, got, bound[s+1])
						}
					}
				})
			}
		}
	}
}
