// The zero-bubble generators zb-h1 and zb-h2: a list scheduler that places split backwards (I, W) on unit costs.

package runtime

// genZBH1 caps stage s at p−s micro-batches in flight, what 1f1b holds, so
// it needs no more activation memory than 1f1b on any stage. Under that cap
// the list scheduler gives back 1f1b's order with each B split in place into
// I then W (TestZeroBubbleH1Is1F1BSplit): the whole gain, 2(p−1) idle slots
// per device instead of 3(p−1), comes from sending the gradient after I
// rather than after all of B. The paper's ZB-H1 lets every stage hold p, the
// peak of 1f1b's stage 0, to defer W's and reach p−1 slots.
func genZBH1(s *Schedule) { zeroBubble(s, func(p, st int) int { return p - st }) }

// genZBH2 caps every stage at 2p−1 micro-batches in flight, the peak of the
// first stage in the paper's ZB-H2 (about twice 1f1b's p). The cap has to
// be the same on every stage: the last stage must keep p−1 weight gradients
// pending to run them after its last I, while the earlier stages still send
// it gradients. With 2(p−s)−1 instead it could hold only one and the
// bubble would be no smaller than zb-h1's.
func genZBH2(s *Schedule) { zeroBubble(s, func(p, _ int) int { return 2*p - 1 }) }

// zeroBubble fills s (one stage per device) by list scheduling, after Qi et
// al., "Zero Bubble Pipeline Parallelism" (2023): every backward is split
// into I, the input gradient that the previous stage waits for, and W, the
// weight gradient that nobody waits for and that can fill bubbles. It
// replays the devices in unit time steps with F = I = W = 1 and free
// communication; a device that is free takes, in this order:
//
//  1. the I of its oldest micro-batch without one, once the gradient has
//     come back from the next stage (on the last stage: once its F ran);
//  2. the F of its next micro-batch, once the activation has come from the
//     previous stage (stage 0: at once), unless limit(p, s) micro-batches are
//     already in flight (F run, W not);
//  3. the W of its oldest micro-batch that has an I and no W;
//
// or else it waits a step. W's thus run in micro-batch order on every stage,
// so gradients accumulate in the order B accumulates them and the result is
// bit-identical to 1f1b's. All decisions at time t see only what ended by t,
// so the lists depend on (p, m) alone.
func zeroBubble(s *Schedule, limit func(p, st int) int) {
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
			actIn := f < m && (st == 0 || ended(fEnd[st-1][f], t))
			switch {
			case gradIn:
				s.add(Action{Stage: st, Kind: I, Microbatch: i})
				iEnd[st][i] = t + 1
				nextI[st]++
			case actIn && f-w < limit(p, st):
				s.add(Action{Stage: st, Kind: F, Microbatch: f})
				fEnd[st][f] = t + 1
				nextF[st]++
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
