// Tests of the progress bar against a fake terminal.

package main

import (
	"bytes"
	"log/slog"
	"math"
	"strings"
	"testing"

	"baton/runtime"
)

// screen replays what was written to a terminal (\r, \n and erase to the
// line's end) and returns the lines a user would see.
func screen(out []byte) []string {
	lines := [][]rune{nil}
	col := 0
	s := string(out)
	for len(s) > 0 {
		cur := &lines[len(lines)-1]
		switch {
		case strings.HasPrefix(s, "\x1b[K"), strings.HasPrefix(s, "\x1b[0K"):
			*cur = (*cur)[:min(col, len(*cur))]
			s = s[strings.IndexByte(s, 'K')+1:]
			continue
		case s[0] == '\r':
			col = 0
		case s[0] == '\n':
			lines, col = append(lines, nil), 0
		default:
			r := []rune(s)[0]
			if col < len(*cur) {
				(*cur)[col] = r
			} else {
				*cur = append(*cur, r)
			}
			col++
			s = s[len(string(r)):]
			continue
		}
		s = s[1:]
	}
	var seen []string
	for _, l := range lines {
		seen = append(seen, strings.TrimRight(string(l), " "))
	}
	return seen
}

// fakeBar is a progress bar drawn on a fake terminal, drawing every step.
func fakeBar(steps, start int) (*progress, *slog.Logger, *bytes.Buffer) {
	var term bytes.Buffer
	con := &console{w: &term}
	log := slog.New(slog.NewTextHandler(con, nil))
	p := newProgress(con, true, false, steps, start, log)
	p.throttle = 0
	return p, log, &term
}

func step(n, of int) runtime.Progress {
	return runtime.Progress{Step: n, Steps: of, Loss: 5, ValLoss: math.NaN(), TokensPerSec: 1000}
}

// TestProgressInterruptedStaysWhereItStopped: a run stopped at step 29 of
// 300 (Ctrl-C) leaves the bar at 29/300, not at 100%.
func TestProgressInterruptedStaysWhereItStopped(t *testing.T) {
	p, _, term := fakeBar(300, 0)
	for s := 1; s <= 29; s++ {
		p.update(step(s, 300))
	}
	p.throttle = 1 << 62 // the last steps were not drawn: finish must draw them
	p.update(step(30, 300))
	p.finish()
	seen := screen(term.Bytes())
	last := seen[len(seen)-2] // the bar's line, then the empty one finish ends it with
	if !strings.Contains(last, "30/300") || strings.Contains(last, "100%") {
		t.Fatalf("bar after an interrupted run = %q, want it at 30/300; screen:\n%s", last, strings.Join(seen, "\n"))
	}
}

// TestProgressCompleteIsFull: a run that ends leaves the bar full.
func TestProgressCompleteIsFull(t *testing.T) {
	p, _, term := fakeBar(10, 4) // resumed at step 4
	for s := 5; s <= 10; s++ {
		p.update(step(s, 10))
	}
	p.finish()
	seen := screen(term.Bytes())
	if last := seen[len(seen)-2]; !strings.Contains(last, "10/10") || !strings.Contains(last, "100%") {
		t.Fatalf("bar after a complete run = %q, want 10/10 100%%", last)
	}
}

// TestProgressLogLineOnItsOwnLine: a warning logged while the bar is drawn
// gets a line of its own, and the bar is drawn again below it.
func TestProgressLogLineOnItsOwnLine(t *testing.T) {
	p, log, term := fakeBar(300, 0)
	p.update(step(1, 300))
	log.Warn("signal: finishing the current step")
	p.update(runtime.Progress{Step: 2, Steps: 300, Loss: 5, ValLoss: 4.5})
	before := screen(term.Bytes())
	p.finish()
	log.Info("after the bar")
	seen := screen(term.Bytes())
	var warn, val int
	for _, l := range before {
		if strings.Contains(l, "level=WARN") {
			warn++
			if !strings.HasPrefix(l, "time=") || strings.Contains(l, "/300") {
				t.Errorf("warning line %q is not a line of its own", l)
			}
		}
		if strings.HasPrefix(l, "step 2: loss 5.0000 val 4.500") && !strings.Contains(l, "/300") {
			val++
		}
	}
	if warn != 1 || val != 1 {
		t.Errorf("want one clean warning line and one clean val line, got %d and %d; screen:\n%s", warn, val, strings.Join(before, "\n"))
	}
	if bar := before[len(before)-1]; !strings.Contains(bar, "2/300") {
		t.Errorf("bar not drawn again below the log lines: last line %q", bar)
	}
	if l := seen[len(seen)-2]; !strings.HasPrefix(l, "time=") || !strings.Contains(l, "after the bar") || len(seen) != len(before)+2 {
		t.Errorf("a line logged after finish must leave the finished bar alone; screen:\n%s", strings.Join(seen, "\n"))
	}
}

// TestProgressTextMatchesItsCount: between throttled draws the bar shows
// the loss of the step it counts, not a later step's beside an older count;
// an evaluation is drawn at once, with its step.
func TestProgressTextMatchesItsCount(t *testing.T) {
	p, _, term := fakeBar(300, 0)
	p.throttle = 1 << 62 // only the first step, and evaluations, are drawn
	for s := 1; s <= 10; s++ {
		st := step(s, 300)
		st.Loss = float64(s)
		p.update(st)
	}
	seen := screen(term.Bytes())
	if last := seen[len(seen)-1]; !strings.Contains(last, "loss 1.000 ") || !strings.Contains(last, "(1/300") {
		t.Errorf("bar after 10 steps, the first drawn = %q, want step 1's loss beside its count 1/300", last)
	}
	st := step(11, 300)
	st.ValLoss = 3
	p.update(st)
	seen = screen(term.Bytes())
	if last := seen[len(seen)-1]; !strings.Contains(last, "val 3.000") || !strings.Contains(last, "(11/300") {
		t.Errorf("bar after an evaluation at step 11 = %q, want its val loss beside 11/300", last)
	}
}
