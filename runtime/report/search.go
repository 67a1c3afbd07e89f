// The planner's search: every schedule, micro-batch count, chunk count, split and recomputation priced by the replay, best first.

package report

import (
	"cmp"
	"slices"

	"baton/model"
	"baton/runtime/schedule"
)

// Space is what the search may choose from.
type Space struct {
	Devices int
	// Capacity is each device's memory in bytes: choices that exceed it are
	// left out, and recomputation is tried only under it (0: no limit,
	// and no recomputation, which only costs time).
	Capacity int64
	// MaxMicrobatches bounds m (0: the batch), which otherwise runs over
	// every divisor of the batch.
	MaxMicrobatches int
}

// Candidate is one priced choice and how its split was made.
type Candidate struct {
	Prediction
	Balance string `json:"balance"` // "flops" or "measured"
}

// Search prices every schedule the trait table has, with every micro-batch
// count that divides the batch, every chunk count an interleaved schedule
// can take (up to 4), the FLOPs split and the measured one and, under a
// memory limit, each recomputation; it returns those that fit, fastest
// first (ties: less recomputation, which buys memory alone and the memory
// limit is met already, then less memory, then the order tried).
func (r *Replay) Search(sp Space) []Candidate {
	recomputes := []model.Recompute{model.RecomputeNone}
	if sp.Capacity > 0 {
		recomputes = append(recomputes, model.RecomputeGELU, model.RecomputeBlock)
	}
	var out []Candidate
	seen := map[string]bool{}
	for _, name := range schedule.ScheduleNames {
		tr, _ := schedule.Lookup(name)
		chunks := []int{1}
		if tr.Chunked {
			chunks = []int{2, 3, 4}
		}
		for _, m := range divisors(r.Batch, sp.MaxMicrobatches) {
			for _, v := range chunks {
				if sp.Devices*v > r.Config.L {
					continue
				}
				for _, rc := range recomputes {
					for _, bal := range []string{"flops", "measured"} {
						c := Choice{Schedule: name, Devices: sp.Devices, Microbatches: m, Chunks: v, Recompute: rc}
						if bal == "measured" {
							if c.Split = r.BalancedSplit(sp.Devices, v, rc, r.fitsIn(c, sp.Capacity)); c.Split == nil {
								continue
							}
						}
						pr, err := r.Predict(c)
						if err != nil || !fits(pr.PeakBytes, sp.Capacity) {
							continue // sizes the generator refuses, or too big
						}
						key := pr.Choice.String()
						if seen[key] {
							continue // one-micro-batch schedules, and splits both ways agree on
						}
						seen[key] = true
						out = append(out, Candidate{Prediction: *pr, Balance: bal})
					}
				}
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Candidate) int {
		return cmp.Or(cmp.Compare(a.StepS, b.StepS), cmp.Compare(a.Recompute, b.Recompute), cmp.Compare(slices.Max(a.PeakBytes), slices.Max(b.PeakBytes)))
	})
	return out
}

// fitsIn says whether stage s of choice c can hold k blocks in a device of
// capacity bytes shared by its c.Chunks stages (nil: no limit).
func (r *Replay) fitsIn(c Choice, capacity int64) func(s, k int) bool {
	if capacity == 0 {
		return nil
	}
	sched, err := schedule.GenerateChunks(c.Schedule, c.Devices, c.Microbatches, c.Chunks)
	if err != nil {
		return nil // Predict refuses it
	}
	stages := c.Devices * c.Chunks
	o := model.PlanOptions{B: r.Batch / sched.Microbatches, T: r.Context, Stashes: sched.Stashes(), Microbatches: sched.Microbatches,
		SplitBackward: sched.SplitsBackward(), Recompute: c.Recompute, EagerOptimizer: r.eager, Vocab: r.vocab}
	return func(s, k int) bool {
		return r.Config.StageBytesIn(r.Precision, s, k, s == 0, s == stages-1, o)*int64(c.Chunks) <= capacity
	}
}

func fits(peak []int64, capacity int64) bool {
	return capacity == 0 || slices.Max(peak) <= capacity
}

// divisors are n's divisors up to limit (0: n), ascending.
func divisors(n, limit int) []int {
	if limit <= 0 {
		limit = n
	}
	var out []int
	for d := 1; d <= min(n, limit); d++ {
		if n%d == 0 {
			out = append(out, d)
		}
	}
	return out
}
