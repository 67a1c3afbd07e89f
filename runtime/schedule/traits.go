// The trait table: per schedule name, its generator, what it takes, whether it splits backwards, and its analytic bubble with the formula reports print.

package schedule

import (
	"fmt"
	"strings"
)

// Traits are everything baton knows about a schedule from its name: one row
// of table, the only place where a name decides anything.
type Traits struct {
	Name string
	// Chunked: the generator takes v > 1 chunks (stages) per device.
	Chunked bool
	// OneMicrobatch: the schedule always runs one micro-batch, whatever m
	// is asked for (the textbook's sequential execution of the whole batch).
	OneMicrobatch bool
	// SplitBackward: every backward is split into I and W; the W's nobody
	// waits for fill bubbles.
	SplitBackward bool
	// Formula is the analytic bubble as reports print it.
	Formula string

	fill   func(s *Schedule)         // fills the lists of a schedule whose sizes are set
	check  func(p, m, v int) error   // rejects sizes fill cannot serve; nil: none
	bubble func(p, m, v int) float64 // the analytic bubble at sizes check accepts
}

// table lists the generators in order of refinement.
var table = []Traits{
	{Name: "naive", OneMicrobatch: true, Formula: "(p-1)/p", fill: genNaive,
		bubble: func(p, _, _ int) float64 { return float64(p-1) / float64(p) }},
	{Name: "gpipe", Formula: "(p-1)/(m+p-1)", fill: genGPipe, bubble: rampBubble},
	{Name: "1f1b", Formula: "(p-1)/(m+p-1)", fill: gen1F1B, bubble: rampBubble},
	{Name: "interleaved", Chunked: true, Formula: "(p-1)/(vm+p-1)", fill: genInterleaved, check: checkInterleaved,
		bubble: func(p, m, v int) float64 { return float64(p-1) / float64(v*m+p-1) }},
	{Name: "zb-h1", SplitBackward: true, Formula: zeroBubbleFormula, fill: genZBH1, bubble: zeroBubbleIdle},
	{Name: "zb-h2", SplitBackward: true, Formula: zeroBubbleFormula, fill: genZBH2, bubble: zeroBubbleIdle},
}

// ScheduleNames lists the generators Generate knows, in order of refinement.
var ScheduleNames = func() []string {
	out := make([]string, len(table))
	for i, t := range table {
		out[i] = t.Name
	}
	return out
}()

// Lookup is the row of the named generator, matched without regard to case.
func Lookup(name string) (Traits, error) {
	for _, t := range table {
		if strings.EqualFold(t.Name, name) {
			return t, nil
		}
	}
	return Traits{}, fmt.Errorf("unknown schedule %q; known schedules: %s", name, strings.Join(ScheduleNames, ", "))
}

// FilePrefix starts the name of a schedule read from a file: "file:x.csv".
const FilePrefix = "file:"

// fileFormula is what stands for the formula of a schedule file, which has
// none: its analytic bubble is the uniform-cost replay the formulas agree
// with (see (*Schedule).AnalyticBubble).
const fileFormula = "replay with f=1, b=2: a schedule file has no formula"

// Formula is the analytic bubble's formula of the named schedule as reports
// print it: its row's, or for a schedule file what stands for one.
func Formula(name string) string {
	if strings.HasPrefix(name, FilePrefix) {
		return fileFormula
	}
	t, err := Lookup(name)
	if err != nil {
		return "unknown schedule"
	}
	return t.Formula
}

// chunkedNames are the generators that take chunks, for messages.
func chunkedNames() string {
	var out []string
	for _, t := range table {
		if t.Chunked {
			out = append(out, t.Name)
		}
	}
	return strings.Join(out, ", ")
}
