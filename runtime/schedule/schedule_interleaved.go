// The interleaved 1F1B generator (Megatron-LM's virtual pipeline): v chunks per device, p·v stages.

package schedule

import (
	"fmt"
)

// checkInterleaved enforces Megatron's rule that micro-batches go through
// the chunks in groups of p: each device runs p forwards of one chunk, then
// p of the next, which only fills the pipeline when m is a multiple of p.
func checkInterleaved(p, m, v int) error {
	if v == 1 || m%p == 0 {
		return nil
	}
	return &GroupError{Devices: p, Microbatches: m}
}

// GroupError is interleaving's refusal of a micro-batch count that is not
// a multiple of the devices. Its message suggests the nearest multiple;
// a caller that knows more (the batch it must divide) may suggest better
// with Nearest.
type GroupError struct{ Devices, Microbatches int }

func (e *GroupError) Error() string {
	return e.Rule() + fmt.Sprintf(": use %s", microbatches(e.Nearest(max(2*e.Microbatches, e.Devices), func(int) bool { return true })))
}

// Rule is the message without a suggestion.
func (e *GroupError) Rule() string {
	return fmt.Sprintf("%s over %d devices; interleaving needs micro-batches to be a multiple of devices (Megatron's rule: they go through the chunks in groups of %d)",
		microbatches(e.Microbatches), e.Devices, e.Devices)
}

// Nearest is the multiple of Devices up to limit nearest Microbatches (the
// larger on a tie: more micro-batches, a smaller bubble) that ok accepts;
// 0 when ok accepts none.
func (e *GroupError) Nearest(limit int, ok func(m int) bool) int {
	p, m := e.Devices, e.Microbatches
	best := 0
	for k := p; k <= limit; k += p {
		if ok(k) && (best == 0 || abs(k-m) <= abs(best-m)) {
			best = k
		}
	}
	return best
}

func abs(x int) int { return max(x, -x) }

// microbatches is "1 micro-batch", "3 micro-batches": the pure core imports
// nothing of baton's, internal/words included.
func microbatches(m int) string {
	if m == 1 {
		return "1 micro-batch"
	}
	return fmt.Sprintf("%d micro-batches", m)
}

// genInterleaved is interleaved 1F1B. Device d holds stages d, d+p, …,
// d+(v−1)p (chunks 0..v−1). Its k-th forward handles chunk
// (k mod pv) div p of micro-batch (k div pv)·p + k mod p: groups of p
// micro-batches go through chunk 0, then chunk 1, and so on; its k-th
// backward is the same with the chunks in reverse. Device d warms up with
// (p−d−1)·2 + (v−1)·p forwards (at most all m·v), then alternates one
// forward and one backward, then drains. The (v−1)·p is one group per
// extra chunk: the first gradient cannot come back before micro-batch 0 went
// through every chunk. The 2 per hop is Megatron-LM's and PyTorch's; in
// Simulate, whose sends never block, 1 per hop reaches the same bubble under
// uniform costs with fewer micro-batches in flight on the middle devices,
// but the published count is kept. With v = 1 the schedule is exactly 1f1b
// (whose warm-up is 1 per hop), as Megatron-LM falls back to the
// non-interleaved schedule.
func genInterleaved(s *Schedule) {
	p, m, v := s.Devices, s.Microbatches, s.Chunks
	if v == 1 {
		gen1F1B(s)
		return
	}
	total := m * v
	at := func(d, k int, backward bool) Action {
		c := k % (p * v) / p
		kind := F
		if backward {
			c, kind = v-1-c, B
		}
		return Action{Stage: c*p + d, Kind: kind, Microbatch: k/(p*v)*p + k%p}
	}
	for d := range p {
		warm := min((p-d-1)*2+(v-1)*p, total)
		fwd, bwd := 0, 0
		for ; fwd < warm; fwd++ {
			s.add(at(d, fwd, false))
		}
		for ; fwd < total; fwd, bwd = fwd+1, bwd+1 {
			s.add(at(d, fwd, false))
			s.add(at(d, bwd, true))
		}
		for ; bwd < total; bwd++ {
			s.add(at(d, bwd, true))
		}
		for c := range v {
			s.add(Action{Stage: c*p + d, Kind: Step, Microbatch: -1})
		}
	}
}
