// The generators of naive, gpipe and 1f1b: per-stage orders of forwards and backwards, one stage per device.

package schedule

// genNaive is sequential model parallelism: the whole batch is one
// micro-batch, so each stage runs F0 then B0 and every other device waits.
func genNaive(s *Schedule) {
	for st := range s.Stages {
		s.add(Action{Stage: st, Kind: F, Microbatch: 0})
		s.add(Action{Stage: st, Kind: B, Microbatch: 0})
		s.add(Action{Stage: st, Kind: Step, Microbatch: -1})
	}
}

// genGPipe runs all forwards, then all backwards. The backwards go in
// micro-batch order B0..B(m-1), as in torch.distributed.pipelining's GPipe:
// with uniform costs reverse order takes the same time and holds the same
// m activations, and in-order frees micro-batch 0's stash first, as 1F1B does.
func genGPipe(s *Schedule) {
	for st := range s.Stages {
		for mb := range s.Microbatches {
			s.add(Action{Stage: st, Kind: F, Microbatch: mb})
		}
		for mb := range s.Microbatches {
			s.add(Action{Stage: st, Kind: B, Microbatch: mb})
		}
		s.add(Action{Stage: st, Kind: Step, Microbatch: -1})
	}
}

// gen1F1B is the non-interleaved one-forward-one-backward schedule
// (PipeDream-Flush): stage st warms up with min(p-st-1, m) forwards, then
// alternates one forward and one backward, then drains the remaining
// backwards. A backward frees a stash as soon as the next forward fills one,
// so at most p-st micro-batches are in flight on stage st (m under GPipe).
func gen1F1B(s *Schedule) {
	p, m := s.Stages, s.Microbatches
	for st := range s.Stages {
		warm := min(p-st-1, m)
		fwd, bwd := 0, 0
		for ; fwd < warm; fwd++ {
			s.add(Action{Stage: st, Kind: F, Microbatch: fwd})
		}
		for ; fwd < m; fwd, bwd = fwd+1, bwd+1 {
			s.add(Action{Stage: st, Kind: F, Microbatch: fwd})
			s.add(Action{Stage: st, Kind: B, Microbatch: bwd})
		}
		for ; bwd < m; bwd++ {
			s.add(Action{Stage: st, Kind: B, Microbatch: bwd})
		}
		s.add(Action{Stage: st, Kind: Step, Microbatch: -1})
	}
}
