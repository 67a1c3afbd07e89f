// Slowed CPU devices: cpu:N~F parsed, printed and opened, and their work stretched F times.

package device

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSlowedCPUNames(t *testing.T) {
	for _, c := range []struct {
		list string
		want []string
		err  string
	}{
		{list: "cpu:0,cpu:1~2", want: []string{"cpu:0", "cpu:1~2"}},
		{list: "cpu:0..2~1.5", want: []string{"cpu:0~1.5", "cpu:1~1.5", "cpu:2~1.5"}},
		{list: "cpu:3~1", want: []string{"cpu:3"}}, // 1× is no slow-down
		{list: "cpu:1~0.5", err: "from 1 to 100"},
		{list: "cpu:1~101", err: "from 1 to 100"},
		{list: "cpu:1~NaN", err: "from 1 to 100"},
		{list: "cpu:1~", err: "from 1 to 100"},
		{list: "cpu:1,cpu:1~2", err: "cpu:1 (as cpu:1 and cpu:1~2) is listed twice"},
		{list: "cpu:1~3,cpu:1~2", err: "cpu:1 (as cpu:1~3 and cpu:1~2) is listed twice"},
	} {
		names, err := Expand(c.list)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want one saying %q", c.list, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(Strings(names), c.want) {
			t.Errorf("%s: %v %v, want %v", c.list, Strings(names), err, c.want)
			continue
		}
		for _, n := range names { // a name reads back as itself
			if back, err := ParseName(n.String()); err != nil || back != n {
				t.Errorf("%s reads back as %+v (%v)", n, back, err)
			}
		}
	}
}

// TestStretchMakesWorkSlower: a unit of work on cpu:0~3 ends no sooner than
// three times its own length after it began (a sleep's lower bound, not a
// measurement of speed), and an unslowed device adds nothing.
func TestStretchMakesWorkSlower(t *testing.T) {
	devs, err := Open(mustExpand(t, "cpu:0~3,cpu:1"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	const work = 20 * time.Millisecond
	slow, plain := devs[0], devs[1]
	start := slow.Record()
	time.Sleep(work)
	StretchSince(slow, start)
	if got := slow.Elapsed(start, slow.Record()); got < 3*work {
		t.Errorf("stretched work took %v, want at least %v", got, 3*work)
	}
	start = plain.Record()
	StretchSince(plain, start)
	if got := plain.Elapsed(start, plain.Record()); got > work {
		t.Errorf("an unslowed device's stretch took %v", got)
	}
}

// TestStretchCarriesTheOvershoot: sleeps that each wake a millisecond late
// still add up to (Slow-1) times the work over many small units, not
// (Slow-1) times it and a millisecond per unit, as cpu:0~2 on the tiny
// model's units (a tenth of a millisecond) once ran 4 to 5 times slower;
// and a sleep that overshot by far (a stopped process) takes at most
// maxCredit off the next ones.
func TestStretchCarriesTheOvershoot(t *testing.T) {
	devs, err := Open(mustExpand(t, "cpu:0~2"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := devs[0].(*CPU)
	var slept time.Duration
	late := func(want time.Duration) time.Duration {
		slept += want + time.Millisecond
		return want + time.Millisecond
	}
	const unit, units = 100 * time.Microsecond, 1000
	for range units {
		d.stretchBy(unit, late)
	}
	if want := units * unit; slept < want || slept > want+2*time.Millisecond {
		t.Errorf("1000 units of %v slept %v in all on cpu:0~2; want %v, give or take one late wake", unit, slept, want)
	}
	d.stretchBy(10*time.Millisecond, func(time.Duration) time.Duration { return time.Hour })
	if d.owed != -maxCredit {
		t.Errorf("after a sleep an hour long, the next sleeps owe %v; want %v", d.owed, -maxCredit)
	}
}

func mustExpand(t *testing.T, list string) []Name {
	t.Helper()
	names, err := Expand(list)
	if err != nil {
		t.Fatal(err)
	}
	return names
}
