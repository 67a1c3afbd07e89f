// The zero-bubble generators zb-h1 and zb-h2: a list scheduler that places split backwards (I, W) on unit costs.

package schedule

// genZBH1 is the paper's ZB-H1: every stage may hold p micro-batches in
// flight, the peak of 1f1b's stage 0, so the largest stash of any stage is
// 1f1b's; and stage s runs forwards ahead of input gradients only while
// fewer than p−s micro-batches have had their F and not their I, 1f1b's
// warm-up. The W's deferred in the room between p−s and p fill the tail, and
// each device idles p−1 slots where 1f1b idles 3(p−1): a third.
func genZBH1(s *Schedule) {
	zeroBubble(s, func(p, _ int) int { return p }, func(p, st int) int { return p - st })
}

// genZBH2 caps every stage at 2p−1 micro-batches in flight, the peak of the
// first stage in the paper's ZB-H2 (about twice 1f1b's p), and gives input
// gradients priority over forwards throughout. The cap has to be the same on
// every stage: the last stage must keep p−1 weight gradients pending to run
// them after its last I, while the earlier stages still send it gradients.
// In one step it idles as zb-h1 does (the floor: the last stage cannot start
// before p−1 forwards); with steps overlapping, not at all (SteadyBubble).
func genZBH2(s *Schedule) {
	zeroBubble(s, func(p, _ int) int { return 2*p - 1 }, func(int, int) int { return 0 })
}

// zeroBubble fills s (one stage per device) by list scheduling, after Qi et
// al., "Zero Bubble Pipeline Parallelism" (2023): every backward is split
// into I, the input gradient that the previous stage waits for, and W, the
// weight gradient that nobody waits for and that can fill bubbles. It
// replays the devices in unit time steps with F = I = W = 1 and free
// communication; a device that is free takes, in this order:
//
//  1. the F of its next micro-batch while fewer than lead(p, s) have had
//     their F and not their I (the warm-up), under the conditions of 3;
//  2. the I of its oldest micro-batch without one, once the gradient has
//     come back from the next stage (on the last stage: once its F ran);
//  3. the F of its next micro-batch, once the activation has come from the
//     previous stage (stage 0: at once), unless limit(p, s) micro-batches are
//     already in flight (F run, W not);
//  4. the W of its oldest micro-batch that has an I and no W;
//
// or else it waits a step. W's thus run in micro-batch order on every stage,
// so gradients accumulate in the order B accumulates them and the result is
// bit-identical to 1f1b's. All decisions at time t see only what ended by t,
// so the lists depend on (p, m) alone.
func zeroBubble(s *Schedule, limit, lead func(p, st int) int) {
	p, m := s.Stages, s.Microbatches
	last := p - 1
	// fEnd[st][mb] and iEnd[st][mb]: when the F and I ended; 0 is "not yet",
	// since nothing ends before time 1.
	fEnd, iEnd := make([][]int, p), make([][]int, p)
	for st := range p {
		fEnd[st], iEnd[st] = make([]int, m), make([]int, m)
	}
	ended := func(end, t int) bool { return end > 0 && end <= t }
	nextF, nextI, nextW := make([]int, p), make([]int, p), make([]int, p)
	for t, busy := 0, true; busy; t++ {
		busy = false
		for st := range p {
			f, i, w := nextF[st], nextI[st], nextW[st]
			if w == m {
				continue
			}
			busy = true
			gradIn := i < f && (st == last && ended(fEnd[st][i], t) || st < last && ended(iEnd[st+1][i], t))
			canF := f < m && (st == 0 || ended(fEnd[st-1][f], t)) && f-w < limit(p, st)
			switch {
			case canF && (f-i < lead(p, st) || !gradIn):
				s.add(Action{Stage: st, Kind: F, Microbatch: f})
				fEnd[st][f] = t + 1
				nextF[st]++
			case gradIn:
				s.add(Action{Stage: st, Kind: I, Microbatch: i})
				iEnd[st][i] = t + 1
				nextI[st]++
			case w < i:
				s.add(Action{Stage: st, Kind: W, Microbatch: w})
				nextW[st]++
			}
		}
	}
	for st := range p {
		s.add(Action{Stage: st, Kind: Step, Microbatch: -1})
	}
}
