// The training progress bar, and the stderr it shares with log lines.

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"baton/runtime"
)

// console is stderr, shared by the progress bar and log lines. A line
// logged while the bar is drawn first erases the bar and then draws it again
// below itself, so a warning (a signal's, say, from another goroutine) never
// runs into the bar.
type console struct {
	mu  sync.Mutex
	w   io.Writer
	bar []byte // the bar as last drawn: what it wrote since its last \r or \n
}

// Write writes log lines.
func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(bytes.TrimSpace(c.bar)) == 0 {
		return c.w.Write(p)
	}
	if _, err := io.WriteString(c.w, "\r\x1b[K"); err != nil { // to the line's end
		return 0, err
	}
	n, err := c.w.Write(p)
	if err != nil {
		return n, err
	}
	_, err = c.w.Write(c.bar)
	return n, err
}

// barWriter is where the bar draws itself.
type barWriter struct{ c *console }

func (b barWriter) Write(p []byte) (int, error) {
	b.c.mu.Lock()
	defer b.c.mu.Unlock()
	if i := bytes.LastIndexAny(p, "\r\n"); i >= 0 {
		b.c.bar = append(b.c.bar[:0], p[i+1:]...)
	} else {
		b.c.bar = append(b.c.bar, p...)
	}
	return b.c.w.Write(p)
}

// progress shows a bar on a terminal and a log line every few steps elsewhere.
type progress struct {
	bar      *progressbar.ProgressBar
	con      *console
	log      *slog.Logger
	every    int
	last     int           // the last step reported
	drawn    time.Time     // when the bar was last drawn
	throttle time.Duration // between draws of the bar
}

// newProgress draws a bar on con when tty (stderr is a terminal), and logs
// to log otherwise; quiet shows neither.
func newProgress(con *console, tty, quiet bool, steps, start int, log *slog.Logger) *progress {
	p := &progress{con: con, log: log, every: max(1, (steps-start)/10), last: start, throttle: 100 * time.Millisecond}
	if quiet {
		p.log = nil
		return p
	}
	if tty {
		// The bar draws every step it is given (no throttle of its own), so
		// finish can draw the step the run stopped at; update throttles.
		p.bar = progressbar.NewOptions(steps, progressbar.OptionSetWriter(barWriter{con}), progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(0), progressbar.OptionSetWidth(24))
		p.bar.Set(start)
	}
	return p
}

// say writes a line about step (none for ""): above the bar on a
// terminal, else to the log at level.
func (p *progress) say(step int, line string, level slog.Level) {
	switch {
	case line == "":
	case p.bar != nil && level >= slog.LevelWarn:
		fmt.Fprintf(p.con, "step %d: warning: %s\n", step, line)
	case p.bar != nil:
		fmt.Fprintf(p.con, "step %d: %s\n", step, line)
	case p.log != nil:
		p.log.Log(context.Background(), level, line, "step", step)
	}
}

func (p *progress) update(s runtime.Progress) {
	p.last = s.Step
	p.say(s.Step, s.Notice, slog.LevelInfo)
	p.say(s.Step, s.Warning, slog.LevelWarn)
	val := ""
	if !math.IsNaN(s.ValLoss) {
		val = fmt.Sprintf(" val %.3f", s.ValLoss)
	}
	switch {
	case p.bar != nil:
		// Describe draws the bar too: both at once, throttled alike, or the
		// text would run ahead of a count drawn only every throttle.
		if time.Since(p.drawn) >= p.throttle || s.Step == s.Steps || val != "" {
			p.bar.Describe(fmt.Sprintf("loss %.3f%s %.0f tok/s", s.Loss, val, s.TokensPerSec))
			p.bar.Set(s.Step)
			p.drawn = time.Now()
		}
		if val != "" {
			fmt.Fprintf(p.con, "step %d: loss %.4f%s\n", s.Step, s.Loss, val)
		}
	case p.log != nil && (s.Step%p.every == 0 || s.Step == s.Steps || val != ""):
		attrs := []any{"step", s.Step, "of", s.Steps, "loss", fmt.Sprintf("%.4f", s.Loss)}
		if val != "" {
			attrs = append(attrs, "val_loss", fmt.Sprintf("%.4f", s.ValLoss))
		}
		attrs = append(attrs, "lr", fmt.Sprintf("%.3g", s.LR), "grad_norm", fmt.Sprintf("%.3f", s.GradNorm), "tok/s", fmt.Sprintf("%.0f", s.TokensPerSec))
		p.log.Info("train", attrs...)
	}
}

// finish leaves the bar at the last step reported: full for a run that
// ended, where it stopped for one interrupted or failed.
func (p *progress) finish() {
	if p.bar == nil {
		return
	}
	p.bar.Set(p.last)
	p.bar.Exit()
	fmt.Fprintln(barWriter{p.con}) // the bar's line ends: later lines leave it be
}
