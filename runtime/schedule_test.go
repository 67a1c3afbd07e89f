// Tests of the generators: Generate's errors, and generate → lower → validate → simulate over many (p, m).
package runtime

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestScheduleGenerateErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		p, m int
		want string
	}{
		{"zigzag", 2, 2, `unknown schedule "zigzag"; known schedules: naive, gpipe, 1f1b`},
		{"gpipe", 0, 2, "0 devices; want at least 1"},
		{"1f1b", -1, 2, "-1 devices; want at least 1"},
		{"1f1b", 2, 0, "0 micro-batches; want at least 1"},
		{"naive", 2, 0, "0 micro-batches; want at least 1"},
	} {
		_, err := Generate(c.name, c.p, c.m)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Generate(%q, %d, %d) error %v, want it to mention %q", c.name, c.p, c.m, err, c.want)
		}
	}
}

func TestScheduleGenerateShape(t *testing.T) {
	for _, name := range ScheduleNames {
		s, err := Generate(strings.ToUpper(name), 3, 5)
		if err != nil {
			t.Fatal(err)
		}
		wantM := 5
		if name == "naive" {
			wantM = 1 // the whole batch is one micro-batch
		}
		if s.Name != name || s.Devices != 3 || s.Stages != 3 || s.Chunks != 1 || s.Microbatches != wantM || len(s.Lists) != 3 {
			t.Errorf("Generate(%q, 3, 5) = %+v", name, s)
		}
		for d, l := range s.Lists {
			if last := l[len(l)-1]; last != (Action{Stage: d, Kind: Step, Microbatch: -1}) {
				t.Errorf("%s: device %d ends with %s, want %dSTEP", name, d, last, d)
			}
			for _, a := range l {
				if a.Kind != F && a.Kind != B && a.Kind != Step {
					t.Errorf("%s: device %d has %s; generators make F, B and STEP only", name, d, a)
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

// Generate → Lower → Validate → Simulate for every generator, p in 1..8 and
// m in 1..32: valid, no deadlock, each micro-batch forward and backward once
// per stage, the simulated bubble equal to the analytic one for uniform
// costs, and the in-flight bounds of gpipe and 1f1b.
func TestScheduleAllSizes(t *testing.T) {
	for _, name := range ScheduleNames {
		for p := 1; p <= 8; p++ {
			for m := 1; m <= 32; m++ {
				t.Run(fmt.Sprintf("%s/p%d/m%d", name, p, m), func(t *testing.T) { checkSchedule(t, name, p, m) })
			}
		}
	}
}

func checkSchedule(t *testing.T, name string, p, m int) {
	s, err := Generate(name, p, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(s); err != nil {
		t.Fatalf("generated: %v", err)
	}
	low := Lower(s)
	if err := Validate(low); err != nil {
		t.Fatalf("lowered: %v\n%s", err, low.Grid(true))
	}
	counts := map[Action]int{}
	for _, l := range low.Lists {
		for _, a := range l {
			counts[a]++
		}
	}
	for st := range s.Stages {
		for mb := range s.Microbatches {
			for _, k := range []Kind{F, B} {
				if n := counts[Action{Stage: st, Kind: k, Microbatch: mb}]; n != 1 {
					t.Errorf("stage %d runs %s of micro-batch %d %d times, want once", st, k, mb, n)
				}
			}
		}
	}
	for _, fb := range [][2]float64{{1, 2}, {1, 1}} {
		tl, err := Simulate(low, UniformCost(fb[0], fb[1]))
		if err != nil {
			t.Fatalf("f=%v b=%v: %v", fb[0], fb[1], err)
		}
		if want := AnalyticBubble(name, p, m); math.Abs(tl.Bubble-want) > 1e-9 {
			t.Errorf("f=%v b=%v: simulated bubble %.12f, analytic %.12f\n%s", fb[0], fb[1], tl.Bubble, want, low.Grid(false))
		}
		for d := range p {
			if n := len(tl.Actions[d]); n != len(low.Lists[d]) {
				t.Errorf("device %d: %d timed actions for %d in its list", d, n, len(low.Lists[d]))
			}
		}
	}
	peak := low.PeakInFlight()
	for st := range s.Stages {
		want := s.Microbatches // naive (m = 1) and gpipe hold every micro-batch
		if name == "1f1b" {
			want = min(p-st, m)
		}
		if peak[st] != want {
			t.Errorf("stage %d: peak in flight %d, want %d", st, peak[st], want)
		}
	}
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
		"slot   0    1    2    3\n" +
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
