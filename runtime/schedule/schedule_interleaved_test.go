// Tests of the interleaved generator: exact orders, warm-up counts, the reduction to 1f1b, several stages per device.

package schedule

import (
	"fmt"
	"slices"
	"testing"
)

func TestInterleavedOrder(t *testing.T) {
	s, err := GenerateChunks("interleaved", 2, 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Device 0 holds stages 0 and 2, device 1 stages 1 and 3. Groups of p = 2
	// micro-batches go through chunk 0, then chunk 1; backwards the other way.
	want := []string{
		"0F0 0F1 2F0 2F1 0F2 2B0 0F3 2B1 2F2 0B0 2F3 0B1 2B2 2B3 0B2 0B3 0STEP 2STEP",
		"1F0 1F1 3F0 3B0 3F1 3B1 1F2 1B0 1F3 1B1 3F2 3B2 3F3 3B3 1B2 1B3 1STEP 3STEP",
	}
	for d := range want {
		if got := joinActions(s.Lists[d]); got != want[d] {
			t.Errorf("device %d:\n got %s\nwant %s", d, got, want[d])
		}
	}
}

// Device d warms up with min((p−d−1)·2 + (v−1)·p, m·v) forwards; the
// steady phase then starts with one more forward before the first backward.
func TestInterleavedWarmup(t *testing.T) {
	for _, c := range [][3]int{{2, 4, 2}, {4, 8, 2}, {4, 4, 3}, {3, 3, 4}, {8, 16, 2}, {1, 5, 3}} {
		p, m, v := c[0], c[1], c[2]
		s, err := GenerateChunks("interleaved", p, m, v)
		if err != nil {
			t.Fatal(err)
		}
		for d, l := range s.Lists {
			first := slices.IndexFunc(l, func(a Action) bool { return a.Kind == B })
			want := min((p-d-1)*2+(v-1)*p, m*v)
			if want < m*v {
				want++
			}
			if first != want {
				t.Errorf("p=%d m=%d v=%d device %d: %d forwards before the first backward, want %d", p, m, v, d, first, want)
			}
		}
	}
}

// With one chunk interleaved is 1f1b, list for list, as in Megatron-LM.
func TestInterleavedOneChunkIs1F1B(t *testing.T) {
	for p := 1; p <= 8; p++ {
		for m := 1; m <= 32; m++ {
			a, err := GenerateChunks("interleaved", p, m, 1)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Generate("1f1b", p, m)
			if err != nil {
				t.Fatal(err)
			}
			for d := range b.Lists {
				if !slices.Equal(a.Lists[d], b.Lists[d]) {
					t.Errorf("p=%d m=%d device %d:\n interleaved %s\n 1f1b        %s", p, m, d, joinActions(a.Lists[d]), joinActions(b.Lists[d]))
				}
			}
		}
	}
}

// On one device every stage boundary is still a send and a receive, both
// on that device; the send comes first in its list, so nothing deadlocks.
func TestInterleavedOneDevice(t *testing.T) {
	s, err := GenerateChunks("interleaved", 1, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	low := Lower(s)
	want := "0F0 0SEND_F0 1RECV_F0 1F0 1B0 1SEND_B0 0F1 0SEND_F1 0RECV_B0 0B0 1RECV_F1 1F1 1B1 1SEND_B1 0RECV_B1 0B1 0STEP 1STEP"
	if got := joinActions(low.Lists[0]); got != want {
		t.Errorf("lowered:\n got %s\nwant %s", got, want)
	}
	if err := Validate(low); err != nil {
		t.Fatal(err)
	}
	tl, err := Simulate(low, UniformCost(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	if tl.StepTime != 12 || tl.Bubble != 0 {
		t.Errorf("step %v bubble %v, want 12 and 0", tl.StepTime, tl.Bubble)
	}
}

// PeakInFlight counts per stage, not per device: a device's activations are
// the sum over its chunks, each a 1/v share of its layers.
func TestInterleavedInFlight(t *testing.T) {
	for _, c := range []struct {
		p, m, v int
		want    []int
	}{
		{2, 4, 2, []int{4, 3, 2, 1}},
		{4, 8, 2, []int{8, 8, 7, 5, 4, 4, 3, 1}},
		{4, 16, 2, []int{8, 8, 7, 5, 4, 4, 3, 1}},
	} {
		s, err := GenerateChunks("interleaved", c.p, c.m, c.v)
		if err != nil {
			t.Fatal(err)
		}
		if got := Lower(s).PeakInFlight(); !slices.Equal(got, c.want) {
			t.Errorf("p=%d m=%d v=%d: peak in flight per stage %v, want %v", c.p, c.m, c.v, got, c.want)
		}
	}
}

func ExampleGenerateChunks() {
	s, err := GenerateChunks("interleaved", 2, 4, 2)
	if err != nil {
		panic(err)
	}
	tl, err := Simulate(Lower(s), UniformCost(1, 2))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d stages on %d devices, bubble %.3f = (p−1)/(v·m+p−1) = %.3f\n", s.Stages, s.Devices, tl.Bubble, s.AnalyticBubble())
	// Output: 4 stages on 2 devices, bubble 0.111 = (p−1)/(v·m+p−1) = 0.111
}
