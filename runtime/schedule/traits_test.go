// Tests of the trait table: lookup by name, and every row complete and true to its generator.

package schedule

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestTraitsLookup(t *testing.T) {
	if want := []string{"naive", "gpipe", "1f1b", "interleaved", "zb-h1", "zb-h2"}; !slices.Equal(ScheduleNames, want) {
		t.Errorf("ScheduleNames = %v, want %v", ScheduleNames, want)
	}
	tr, err := Lookup("ZB-H1")
	if err != nil || tr.Name != "zb-h1" || !tr.SplitBackward {
		t.Errorf("Lookup(ZB-H1) = %+v, %v; want zb-h1's row", tr, err)
	}
	if _, err := Lookup("zigzag"); err == nil || !strings.Contains(err.Error(), `unknown schedule "zigzag"; known schedules: naive, gpipe`) {
		t.Errorf("Lookup(zigzag): %v", err)
	}
	for name, want := range map[string]string{
		"1f1b":        "(p-1)/(m+p-1)",
		"interleaved": "(p-1)/(vm+p-1)",
		"zb-h2":       "e/(3m+e), e = p-1+max(0,p-m)",
		"file:x.csv":  fileFormula,
		"zigzag":      "unknown schedule",
	} {
		if got := Formula(name); got != want {
			t.Errorf("Formula(%s) = %q, want %q", name, got, want)
		}
	}
}

// Each row's flags say what its generator does: OneMicrobatch makes one
// micro-batch, SplitBackward makes I and W and no B, a generator without
// Chunked refuses chunks; and each row has a formula and a bubble.
func TestTraitsTrueToGenerators(t *testing.T) {
	for _, tr := range table {
		if tr.Formula == "" || tr.fill == nil || tr.bubble == nil {
			t.Errorf("%s: incomplete row %+v", tr.Name, tr)
		}
		s, err := Generate(tr.Name, 3, 6)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Microbatches == 1; got != tr.OneMicrobatch {
			t.Errorf("%s: %d micro-batches for 6 asked, OneMicrobatch %t", tr.Name, s.Microbatches, tr.OneMicrobatch)
		}
		kinds := map[Kind]bool{}
		for _, l := range s.Lists {
			for _, a := range l {
				kinds[a.Kind] = true
			}
		}
		if split := kinds[I] && kinds[W] && !kinds[B]; split != tr.SplitBackward {
			t.Errorf("%s: kinds %v, SplitBackward %t", tr.Name, kinds, tr.SplitBackward)
		}
		_, err = GenerateChunks(tr.Name, 3, 6, 2)
		if (err == nil) != tr.Chunked {
			t.Errorf("%s: two chunks give %v, Chunked %t", tr.Name, err, tr.Chunked)
		}
		if got := AnalyticBubbleChunks(tr.Name, 3, 6, 1); math.IsNaN(got) {
			t.Errorf("%s: analytic bubble NaN at p=3 m=6", tr.Name)
		}
	}
}

// A schedule file has no formula: its analytic bubble is the replay on
// uniform costs, which equals the formula of the generator that made it.
func TestTraitsFileAnalyticBubble(t *testing.T) {
	s, err := GenerateChunks("interleaved", 2, 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	f := *s
	f.Name = FilePrefix + "x.csv"
	if got, want := f.AnalyticBubble(), s.AnalyticBubble(); math.Abs(got-want) > 1e-12 {
		t.Errorf("file's analytic bubble %v, generator's %v", got, want)
	}
}
