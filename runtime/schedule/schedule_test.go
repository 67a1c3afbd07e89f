// Tests of the generators: Generate's errors, and generate → lower → validate → simulate over many (p, m).

package schedule

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestScheduleGenerateErrors(t *testing.T) {
	for _, c := range []struct {
		name    string
		p, m, v int
		want    string
	}{
		{"zigzag", 2, 2, 1, `unknown schedule "zigzag"; known schedules: naive, gpipe, 1f1b, interleaved, zb-h1, zb-h2`},
		{"gpipe", 0, 2, 1, "0 devices; want at least 1"},
		{"1f1b", -1, 2, 1, "-1 devices; want at least 1"},
		{"1f1b", 2, 0, 1, "0 micro-batches; want at least 1"},
		{"naive", 2, 0, 1, "0 micro-batches; want at least 1"},
		{"interleaved", 2, 4, 0, "0 chunks; want at least 1 stage per device"},
		{"1f1b", 2, 4, 2, "schedule 1f1b: 2 chunks; 1f1b puts one stage on each device, so chunks must be 1 (only interleaved takes chunks)"},
		{"zb-h1", 2, 4, 3, "only interleaved takes chunks"},
		{"interleaved", 4, 6, 2, "schedule interleaved: 6 micro-batches over 4 devices; interleaving needs micro-batches to be a multiple of devices"},
		{"interleaved", 4, 6, 2, "use 8 micro-batches"},
		{"interleaved", 4, 5, 2, "use 4 micro-batches"},
		{"interleaved", 4, 3, 2, "use 4 micro-batches"},
	} {
		_, err := GenerateChunks(c.name, c.p, c.m, c.v)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("GenerateChunks(%q, %d, %d, %d) error %v, want it to mention %q", c.name, c.p, c.m, c.v, err, c.want)
		}
		if c.v != 1 {
			continue
		}
		if _, err2 := Generate(c.name, c.p, c.m); fmt.Sprint(err2) != fmt.Sprint(err) {
			t.Errorf("Generate(%q, %d, %d) error %v, want GenerateChunks's with one chunk, %v", c.name, c.p, c.m, err2, err)
		}
	}
	// With one chunk interleaved is 1f1b, so any m will do.
	if _, err := GenerateChunks("interleaved", 4, 6, 1); err != nil {
		t.Errorf("interleaved, one chunk, m=6: %v", err)
	}
}

func TestScheduleGenerateShape(t *testing.T) {
	for _, name := range ScheduleNames {
		s, err := Generate(strings.ToUpper(name), 3, 5)
		if err != nil {
			t.Fatal(err)
		}
		tr := traitsOf(t, name)
		wantM := 5
		if tr.OneMicrobatch {
			wantM = 1 // the whole batch is one micro-batch
		}
		if s.Name != name || s.Devices != 3 || s.Stages != 3 || s.Chunks != 1 || s.Microbatches != wantM || len(s.Lists) != 3 {
			t.Errorf("Generate(%q, 3, 5) = %+v", name, s)
		}
		for d, l := range s.Lists {
			if last := l[len(l)-1]; last != (Action{Stage: d, Kind: Step, Microbatch: -1}) {
				t.Errorf("%s: device %d ends with %s, want %dSTEP", name, d, last, d)
			}
			allowed := map[Kind]bool{F: true, B: true, Step: true}
			if tr.SplitBackward {
				allowed = map[Kind]bool{F: true, I: true, W: true, Step: true}
			}
			for _, a := range l {
				if !allowed[a.Kind] {
					t.Errorf("%s: device %d has %s; generators make F, B (zb-*: I and W) and STEP only", name, d, a)
				}
			}
		}
	}
}

func TestScheduleDeviceOf(t *testing.T) {
	s := &Schedule{Devices: 4, Stages: 12, Chunks: 3}
	for st, want := range []int{0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3} {
		if got := s.DeviceOf(st); got != want {
			t.Errorf("DeviceOf(%d) = %d, want %d", st, got, want)
		}
	}
}

// The exact orders of small cases, compute actions only.
func TestScheduleOrders(t *testing.T) {
	for _, c := range []struct {
		name string
		p, m int
		want []string
	}{
		{"naive", 2, 4, []string{"0F0 0B0 0STEP", "1F0 1B0 1STEP"}},
		{"gpipe", 2, 3, []string{"0F0 0F1 0F2 0B0 0B1 0B2 0STEP", "1F0 1F1 1F2 1B0 1B1 1B2 1STEP"}},
		{"1f1b", 3, 4, []string{
			"0F0 0F1 0F2 0B0 0F3 0B1 0B2 0B3 0STEP",
			"1F0 1F1 1B0 1F2 1B1 1F3 1B2 1B3 1STEP",
			"2F0 2B0 2F1 2B1 2F2 2B2 2F3 2B3 2STEP"}},
		{"1f1b", 4, 2, []string{
			"0F0 0F1 0B0 0B1 0STEP",
			"1F0 1F1 1B0 1B1 1STEP",
			"2F0 2F1 2B0 2B1 2STEP",
			"3F0 3B0 3F1 3B1 3STEP"}},
	} {
		checkLists(t, c.name, c.p, c.m, c.want)
	}
}

// Generate → Lower → Validate → Simulate for every generator, p in 1..8,
// m in 1..32 and, for interleaved, v in 1..4 (m a multiple of p when v > 1):
// valid, no deadlock, each micro-batch forward and backward once per stage,
// W's in micro-batch order, the simulated bubble equal to the analytic one
// for uniform costs, and the in-flight bounds.
func TestScheduleAllSizes(t *testing.T) {
	for _, name := range ScheduleNames {
		chunked := traitsOf(t, name).Chunked
		for p := 1; p <= 8; p++ {
			for m := 1; m <= 32; m++ {
				for v := 1; v <= 4; v++ {
					if v > 1 && (!chunked || m%p != 0) {
						continue
					}
					t.Run(fmt.Sprintf("%s/p%d/m%d/v%d", name, p, m, v), func(t *testing.T) { checkSchedule(t, name, p, m, v) })
				}
			}
		}
	}
}

func checkSchedule(t *testing.T, name string, p, m, v int) {
	s, err := GenerateChunks(name, p, m, v)
	if err != nil {
		t.Fatal(err)
	}
	if s.Stages != p*v || s.Chunks != v {
		t.Fatalf("%d stages, %d chunks; want %d and %d", s.Stages, s.Chunks, p*v, v)
	}
	if err := Validate(s); err != nil {
		t.Fatalf("generated: %v", err)
	}
	low := Lower(s)
	if err := Validate(low); err != nil {
		t.Fatalf("lowered: %v\n%s", err, low.Grid(true))
	}
	split := traitsOf(t, name).SplitBackward
	checkCounts(t, low, split)
	costs := [][2]float64{{1, 2}, {1, 1}}
	for i, fb := range costs {
		tl, err := Simulate(low, UniformCost(fb[0], fb[1]))
		if err != nil {
			t.Fatalf("f=%v b=%v: %v", fb[0], fb[1], err)
		}
		// The zero-bubble lists are planned for F = I = W, UniformCost(1, 2):
		// under other costs they only have to run.
		if split && i > 0 {
			continue
		}
		if want := AnalyticBubbleChunks(name, p, m, v); math.Abs(tl.Bubble-want) > 1e-9 {
			t.Errorf("f=%v b=%v: simulated bubble %.12f, analytic %.12f\n%s", fb[0], fb[1], tl.Bubble, want, low.Grid(false))
		}
		// Only zb-h2 ends early on stage 0; every other generator keeps
		// device 0 busy from the first slot to the last.
		if name != "zb-h2" && math.Abs(tl.SteadyBubble-tl.Bubble) > 1e-9 {
			t.Errorf("f=%v b=%v: steady bubble %.12f, want the one-step bubble %.12f", fb[0], fb[1], tl.SteadyBubble, tl.Bubble)
		}
		for d := range p {
			if n := len(tl.Actions[d]); n != len(low.Lists[d]) {
				t.Errorf("device %d: %d timed actions for %d in its list", d, n, len(low.Lists[d]))
			}
		}
	}
	peak := low.PeakInFlight()
	if len(peak) != s.Stages {
		t.Fatalf("peak in flight has %d entries for %d stages", len(peak), s.Stages)
	}
	for st := range s.Stages {
		var want int
		switch name {
		case "naive", "gpipe": // naive has m = 1; both hold every micro-batch
			want = s.Microbatches
		case "1f1b":
			want = min(p-st, m)
		case "zb-h1":
			want = min(p, m) // the paper's limit: 1f1b's peak, that of its stage 0, on every stage
		case "zb-h2":
			want = min(2*p-1, m)
		case "interleaved":
			want = peak[st] // TestInterleavedInFlight
			if v == 1 {
				want = min(p-st, m)
			}
		}
		if peak[st] != want {
			t.Errorf("stage %d: peak in flight %d, want %d", st, peak[st], want)
		}
	}
}

// checkCounts checks that every stage runs each micro-batch's F once and
// its backward once, as a B or (split) as an I and a W, and that the W's
// of each stage come in micro-batch order, as B's accumulate gradients.
func checkCounts(t *testing.T, s *Schedule, split bool) {
	t.Helper()
	counts := map[Action]int{}
	lastW := map[int]int{}
	for _, l := range s.Lists {
		for _, a := range l {
			counts[a]++
			if a.Kind != W {
				continue
			}
			if prev, ok := lastW[a.Stage]; ok && a.Microbatch != prev+1 || !ok && a.Microbatch != 0 {
				t.Errorf("stage %d runs W%d after W%d; W's must go in micro-batch order", a.Stage, a.Microbatch, prev)
			}
			lastW[a.Stage] = a.Microbatch
		}
	}
	kinds := []Kind{F, B}
	if split {
		kinds = []Kind{F, I, W}
	}
	for st := range s.Stages {
		for mb := range s.Microbatches {
			for _, k := range kinds {
				if n := counts[Action{Stage: st, Kind: k, Microbatch: mb}]; n != 1 {
					t.Errorf("stage %d runs %s of micro-batch %d %d times, want once", st, k, mb, n)
				}
			}
		}
	}
}

// traitsOf is the named generator's row of the trait table.
func traitsOf(t *testing.T, name string) Traits {
	t.Helper()
	tr, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestScheduleAnalyticBubble(t *testing.T) {
	for _, c := range []struct {
		name string
		p, m int
		want float64
	}{
		{"naive", 4, 8, 0.75},
		{"naive", 1, 1, 0},
		{"gpipe", 4, 8, 3.0 / 11},
		{"1F1B", 2, 2, 1.0 / 3},
	} {
		if got := AnalyticBubble(c.name, c.p, c.m); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("AnalyticBubble(%s, %d, %d) = %v, want %v", c.name, c.p, c.m, got, c.want)
		}
	}
	for _, bad := range []struct {
		name string
		p, m int
	}{{"zigzag", 2, 2}, {"gpipe", 0, 2}, {"1f1b", 2, 0}} {
		if got := AnalyticBubble(bad.name, bad.p, bad.m); !math.IsNaN(got) {
			t.Errorf("AnalyticBubble(%s, %d, %d) = %v, want NaN", bad.name, bad.p, bad.m, got)
		}
	}
}

func TestSchedulePeakInFlightSplitBackward(t *testing.T) {
	s := scheduleOf(t, 1, 2, "0F0 0F1 0I0 0W0 0I1 0W1 0STEP")
	if got := s.PeakInFlight(); got[0] != 2 {
		t.Errorf("peak %v, want [2]", got)
	}
	s = scheduleOf(t, 1, 2, "0F0 0I0 0W0 0F1 0I1 0W1 0STEP")
	if got := s.PeakInFlight(); got[0] != 1 {
		t.Errorf("peak %v, want [1]", got)
	}
}

func TestScheduleGrid(t *testing.T) {
	s, err := Generate("1f1b", 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := "" +
		"order  0    1    2    3\n" +
		"dev 0  0F0  0F1  0B0  0B1\n" +
		"dev 1  1F0  1B0  1F1  1B1\n"
	if got := Lower(s).Grid(false); got != want {
		t.Errorf("compute grid:\n%s\nwant:\n%s", got, want)
	}
	if got := s.Grid(true); !strings.Contains(got, "0STEP") {
		t.Errorf("full grid has no STEP:\n%s", got)
	}
}

// joinActions prints a list as space-separated actions.
// checkLists generates the named schedule and compares each device's list
// with want, one line per device.
func checkLists(t *testing.T, name string, p, m int, want []string) {
	t.Helper()
	s, err := Generate(name, p, m)
	if err != nil {
		t.Fatal(err)
	}
	for d, l := range s.Lists {
		if got := joinActions(l); got != want[d] {
			t.Errorf("%s p=%d m=%d device %d:\n got %s\nwant %s", name, p, m, d, got, want[d])
		}
	}
}

func joinActions(l []Action) string {
	parts := make([]string, len(l))
	for i, a := range l {
		parts[i] = a.String()
	}
	return strings.Join(parts, " ")
}

// scheduleOf builds a schedule from one line of actions per device, with
// one stage per device.
func scheduleOf(t *testing.T, devices, microbatches int, lines ...string) *Schedule {
	t.Helper()
	s := &Schedule{Name: "test", Devices: devices, Stages: devices, Microbatches: microbatches, Chunks: 1,
		Lists: make([][]Action, len(lines))}
	for d, line := range lines {
		for _, f := range strings.Fields(line) {
			a, err := ParseAction(f)
			if err != nil {
				t.Fatal(err)
			}
			s.Lists[d] = append(s.Lists[d], a)
		}
	}
	return s
}
