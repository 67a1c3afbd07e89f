// Tests of the zero-bubble generators: exact small orders, and their bubble and memory against 1f1b.

package schedule

import (
	"math"
	"slices"
	"testing"
)

// Worked by hand from the list scheduler's rules (I, then F under the
// limit, then the oldest W), one unit time step at a time.
func TestZeroBubbleOrders(t *testing.T) {
	for _, c := range []struct {
		name string
		p, m int
		want []string
	}{
		// zb-h1's last stage may hold p = 2: its W's wait for the tail.
		{"zb-h1", 2, 2, []string{
			"0F0 0F1 0I0 0W0 0I1 0W1 0STEP",
			"1F0 1I0 1F1 1I1 1W0 1W1 1STEP"}},
		// With p = 3, stage 1 runs a third forward while its first gradient
		// is still on the way; the last stage defers all its W's.
		{"zb-h1", 3, 3, []string{
			"0F0 0F1 0F2 0I0 0W0 0I1 0W1 0I2 0W2 0STEP",
			"1F0 1F1 1F2 1I0 1W0 1I1 1W1 1I2 1W2 1STEP",
			"2F0 2I0 2F1 2I1 2F2 2I2 2W0 2W1 2W2 2STEP"}},
		// zb-h2's may hold three: its W's wait for the tail.
		{"zb-h2", 2, 2, []string{
			"0F0 0F1 0I0 0W0 0I1 0W1 0STEP",
			"1F0 1I0 1F1 1I1 1W0 1W1 1STEP"}},
		{"zb-h1", 1, 3, []string{"0F0 0I0 0W0 0F1 0I1 0W1 0F2 0I2 0W2 0STEP"}},
	} {
		checkLists(t, c.name, c.p, c.m, c.want)
	}
}

// The bubbles the paper promises, in this simulator, for p ≥ 2 and m ≥ p:
// zb-h1 at most half of 1f1b's (a third as m grows), holding on no stage
// more micro-batches than 1f1b's stage 0; zb-h2 the same in one step, and
// with steps overlapping (Timeline.SteadyBubble) none at all once m ≥ 2p−1,
// where zb-h1 still idles.
func TestZeroBubbleAgainst1F1B(t *testing.T) {
	sim := func(name string, p, m int) (*Schedule, *Timeline) {
		s, err := Generate(name, p, m)
		if err != nil {
			t.Fatal(err)
		}
		tl, err := Simulate(Lower(s), UniformCost(1, 2)) // F = 1; B = 2, or I = W = 1
		if err != nil {
			t.Fatal(err)
		}
		return s, tl
	}
	for p := 2; p <= 8; p++ {
		for m := p; m <= 32; m++ {
			base, b := sim("1f1b", p, m)
			h1s, h1 := sim("zb-h1", p, m)
			_, h2 := sim("zb-h2", p, m)
			if h1.Bubble > 0.5*b.Bubble {
				t.Errorf("p=%d m=%d: zb-h1 bubble %.4f, 1f1b %.4f; want at most half of it", p, m, h1.Bubble, b.Bubble)
			}
			if peak, most := slices.Max(h1s.PeakInFlight()), slices.Max(base.PeakInFlight()); peak > most {
				t.Errorf("p=%d m=%d: zb-h1 holds up to %d micro-batches on a stage, 1f1b %d", p, m, peak, most)
			}
			if math.Abs(h2.Bubble-h1.Bubble) > 1e-12 {
				t.Errorf("p=%d m=%d: zb-h2 bubble %.4f, zb-h1 %.4f; one step has one floor", p, m, h2.Bubble, h1.Bubble)
			}
			if m >= 2*p-1 && (h2.SteadyBubble > 1e-12 || h1.SteadyBubble < 1e-3) {
				t.Errorf("p=%d m=%d: steady bubble zb-h2 %.4f (want 0), zb-h1 %.4f (want > 0)", p, m, h2.SteadyBubble, h1.SteadyBubble)
			}
		}
	}
}

// The lists depend on (p, m) alone: no map order, no clock.
func TestZeroBubbleDeterministic(t *testing.T) {
	for _, name := range []string{"zb-h1", "zb-h2"} {
		a, _ := Generate(name, 5, 13)
		b, _ := Generate(name, 5, 13)
		for d := range a.Lists {
			if !slices.Equal(a.Lists[d], b.Lists[d]) {
				t.Errorf("%s device %d differs between two runs", name, d)
			}
		}
	}
}

// zb-h1 warms up at least as 1f1b does: stage s runs min(p−s, m) forwards
// before its first input gradient (more where it would wait anyway).
func TestZeroBubbleH1WarmUp(t *testing.T) {
	for p := 1; p <= 8; p++ {
		for m := 1; m <= 32; m++ {
			zb, err := Generate("zb-h1", p, m)
			if err != nil {
				t.Fatal(err)
			}
			for st, l := range zb.Lists {
				n := 0
				for n < len(l) && l[n].Kind == F {
					n++
				}
				if want := min(p-st, m); n < want || n > min(p, m) {
					t.Errorf("p=%d m=%d stage %d starts with %d forwards, want %d to %d: %s", p, m, st, n, want, min(p, m), joinActions(l))
				}
			}
		}
	}
}
