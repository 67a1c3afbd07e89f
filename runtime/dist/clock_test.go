// Tests of clock offsets between two ranks of one process, which share one clock.

package dist

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestClockOffsetOnOneClock(t *testing.T) {
	meshes := connectAll(t, 2)
	var wg sync.WaitGroup
	for _, m := range meshes { // both at once: each answers the other's pings while it pings
		wg.Go(func() {
			off, unc, err := m.ClockOffset(1-m.Rank(), 16)
			if err != nil {
				t.Error(err)
				return
			}
			if unc <= 0 || unc > time.Second {
				t.Errorf("rank %d: uncertainty %v", m.Rank(), unc)
			}
			if off.Abs() > unc+time.Millisecond {
				t.Errorf("rank %d: offset %v on one clock, beyond the uncertainty %v and 1ms", m.Rank(), off, unc)
			}
		})
	}
	wg.Wait()
	for r, m := range meshes {
		m.mu.Lock()
		n := len(m.pongs)
		m.mu.Unlock()
		if n != 0 {
			t.Errorf("rank %d still waits for %d pongs", r, n)
		}
	}
}

func TestClockOffsetRefuses(t *testing.T) {
	meshes := connectAll(t, 2)
	for _, c := range []struct{ peer, samples int }{{0, 4}, {2, 4}, {1, 0}} {
		if _, _, err := meshes[0].ClockOffset(c.peer, c.samples); err == nil {
			t.Errorf("ClockOffset(%d, %d) on rank 0 of 2 succeeded", c.peer, c.samples)
		}
	}
	meshes[1].Close()
	waitGone(t, meshes[0], 1)
	if _, _, err := meshes[0].ClockOffset(1, 4); err == nil || err != meshes[0].Err() || !strings.Contains(err.Error(), "rank 1 (127.0.0.1): left the run before this rank could send a clock ping") {
		t.Errorf("ClockOffset with a closed peer = %v, want the mesh's Err", err)
	}
	if _, _, err := meshes[0].ClockOffset(1, 4); err != meshes[0].Err() {
		t.Errorf("ClockOffset on a broken mesh = %v, want its Err %v", err, meshes[0].Err())
	}
}
