// Tests of the zero-bubble generators: exact small orders, and their bubble and memory against 1f1b.

package runtime

import (
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
		// zb-h1's last stage holds one micro-batch, so it runs F I W.
		{"zb-h1", 2, 2, []string{
			"0F0 0F1 0I0 0W0 0I1 0W1 0STEP",
			"1F0 1I0 1W0 1F1 1I1 1W1 1STEP"}},
		// zb-h2's may hold three: its W's wait for the tail.
		{"zb-h2", 2, 2, []string{
			"0F0 0F1 0I0 0W0 0I1 0W1 0STEP",
			"1F0 1I0 1F1 1I1 1W0 1W1 1STEP"}},
		{"zb-h1", 1, 3, []string{"0F0 0I0 0W0 0F1 0I1 0W1 0F2 0I2 0W2 0STEP"}},
	} {
		s, err := Generate(c.name, c.p, c.m)
		if err != nil {
			t.Fatal(err)
		}
		for d, l := range s.Lists {
			if got := joinActions(l); got != c.want[d] {
				t.Errorf("%s p=%d m=%d device %d:\n got %s\nwant %s", c.name, c.p, c.m, d, got, c.want[d])
			}
		}
	}
}

// The bubbles the paper promises, in this simulator, for p ≥ 2 and m ≥ p:
// zb-h1 clearly below 1f1b (at most 0.8 of it; 2/3 as m grows) with no more
// micro-batches in flight on any stage; zb-h2 lower still, and with steps
// overlapping (Timeline.SteadyBubble) none at all once m ≥ 2p−1.
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
			if h1.Bubble > 0.8*b.Bubble {
				t.Errorf("p=%d m=%d: zb-h1 bubble %.4f, 1f1b %.4f; want at most 0.8 of it", p, m, h1.Bubble, b.Bubble)
			}
			peak, basePeak := h1s.PeakInFlight(), base.PeakInFlight()
			for st := range peak {
				if peak[st] > basePeak[st] {
					t.Errorf("p=%d m=%d stage %d: zb-h1 holds %d micro-batches, 1f1b %d", p, m, st, peak[st], basePeak[st])
				}
			}
			if h2.Bubble >= h1.Bubble {
				t.Errorf("p=%d m=%d: zb-h2 bubble %.4f, not below zb-h1's %.4f", p, m, h2.Bubble, h1.Bubble)
			}
			if m >= 2*p-1 && h2.SteadyBubble > 1e-12 {
				t.Errorf("p=%d m=%d: zb-h2 steady bubble %.4f, want 0", p, m, h2.SteadyBubble)
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

// Capped at 1f1b's p−s, zb-h1 is 1f1b with every B split in place.
func TestZeroBubbleH1Is1F1BSplit(t *testing.T) {
	for p := 1; p <= 8; p++ {
		for m := 1; m <= 32; m++ {
			zb, err := Generate("zb-h1", p, m)
			if err != nil {
				t.Fatal(err)
			}
			base, err := Generate("1f1b", p, m)
			if err != nil {
				t.Fatal(err)
			}
			for d, l := range base.Lists {
				var want []Action
				for _, a := range l {
					if a.Kind == B {
						want = append(want, Action{Stage: a.Stage, Kind: I, Microbatch: a.Microbatch}, Action{Stage: a.Stage, Kind: W, Microbatch: a.Microbatch})
						continue
					}
					want = append(want, a)
				}
				if !slices.Equal(zb.Lists[d], want) {
					t.Errorf("p=%d m=%d device %d:\n zb-h1 %s\n want  %s", p, m, d, joinActions(zb.Lists[d]), joinActions(want))
				}
			}
		}
	}
}
