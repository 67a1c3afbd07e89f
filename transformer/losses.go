// A stack's per-token losses: one device buffer for a step's micro-batches, read back in one copy and summed in float64.

package transformer

import (
	"baton/kernels"
	"fmt"
)

// lossSlot is where micro-batch mb's per-token losses (B,T) go: its part of
// one buffer for the step, so that the host reads them all in one copy. The
// buffer grows (keeping what it holds) when mb is beyond it: a few times in a
// run's first step, never after.
func (s *Stack) lossSlot(mb int) kernels.Buffer {
	N := s.d.N()
	if have := s.lossCap(); (mb+1)*N > have {
		grown := s.ops.Alloc(max((mb+1)*N, 2*have))
		if have > 0 {
			s.ops.Copy(s.ops.Slice(grown, 0, have), s.losses)
		}
		s.losses = grown
		s.lossSlots, s.lossRead = s.lossSlots[:0], nil
		for i := range grown.Len() / N {
			s.lossSlots = append(s.lossSlots, s.ops.Slice(grown, i*N, N))
		}
	}
	return s.lossSlots[mb]
}

func (s *Stack) lossCap() int {
	if s.losses == nil {
		return 0
	}
	return s.losses.Len()
}

// LossSums returns the per-token losses of micro-batches 0..m-1 (last stack
// only, after their Forward), each micro-batch's added in float64 in token
// order. It reads them back in one copy, which waits for the device. The
// slice is the stack's, valid until the next call.
func (s *Stack) LossSums(m int) []float64 {
	N := s.d.N()
	if !s.spec.Head || m*N > s.lossCap() {
		panic(fmt.Sprintf("transformer: LossSums(%d) on blocks [%d, %d), which hold losses of %d micro-batches", m, s.spec.FirstBlock, s.spec.FirstBlock+s.spec.NumBlocks, s.lossCap()/N))
	}
	if len(s.hostLoss) < m*N {
		s.hostLoss = make([]float32, m*N)
	}
	host := s.hostLoss[:m*N]
	if s.lossRead == nil || s.lossRead.Len() != m*N {
		s.lossRead = s.ops.Slice(s.losses, 0, m*N)
	}
	s.ops.Download(host, s.lossRead)
	if cap(s.lossSums) < m {
		s.lossSums = make([]float64, m)
	}
	sums := s.lossSums[:m]
	clear(sums)
	for mb := range sums {
		for _, l := range host[mb*N : (mb+1)*N] {
			sums[mb] += float64(l)
		}
	}
	return sums
}
