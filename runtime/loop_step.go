// One step of the training loop: the state the steps carry, the step trained and recorded in the summary, the rebalancer told.

package runtime

import (
	"context"
	"math"
	"slices"
	"time"
)

// loop is what Run's steps carry from one to the next.
type loop struct {
	in          *StepInput
	rb          *rebalancer // nil: no balancing
	slow        *stragglers
	lr          LRSchedule
	movesBefore int           // the re-splits of the run's earlier starts
	measured    []*StepResult // the last keepSteps steps after the first
	last        Metric        // the latest step's metrics line
	trainTime   time.Duration // in steps, not between them
	results     [keepSteps + 2]StepResult
}

// The steps run into loop.results in turn, each reused once neither
// measured nor the kernel profile (keepSteps each) holds it, so that a
// step in steady state allocates none; a rebalancer keeps a window of
// its own, so with one every step gets a new result.
func (t *Trainer) newLoop(sum *Summary) *loop {
	cfg := t.cfg
	l := &loop{in: t.stepInput(), rb: newRebalancer(cfg), slow: newStragglers(cfg.deviceNames()),
		lr:          cfg.lrSchedule(),
		movesBefore: len(sum.Rebalances), measured: make([]*StepResult, 0, keepSteps)}
	l.in.ProfileLayers = cfg.ProfileLayers || l.rb != nil
	if l.rb != nil {
		l.movesBefore = l.rb.resumed(sum.Rebalances, t.onSplit, t.resumed.BalanceChecked)
	}
	// Room for the losses, so that steps append without allocating: for
	// the first million at most; past them the slice grows as it must.
	sum.Losses = slices.Grow(sum.Losses, min(cfg.Steps-t.start, 1<<20))
	return l
}

// oneStep trains step and records it in sum and l; the progress it
// returns is before evaluation, which between adds.
func (t *Trainer) oneStep(ctx context.Context, l *loop, sum *Summary, step int) (Progress, error) {
	cfg, in := t.cfg, l.in
	in.AdamStep, in.Adam.LR = step, l.lr.At(step)
	t0 := time.Now()
	var into *StepResult
	if l.rb == nil {
		into = &l.results[step%len(l.results)]
	}
	res, err := t.trainStep(in, into)
	if err != nil {
		return Progress{}, err
	}
	// The trace names the kept steps by it, as metrics.jsonl does.
	res.Number = step
	if step == t.start+1 && l.rb == nil { // the later steps' results take the first's shape
		for i := range l.results {
			l.results[i].reserve(res)
		}
	}
	took := time.Since(t0)
	l.trainTime += took
	sum.Losses = append(sum.Losses, res.Loss)
	if res.Redone {
		sum.OptimizerRedone++
		sum.OptimizerRedoS += res.RedoTime.Seconds()
	}
	// The first step of a start, or on new stages after a re-split,
	// allocates: it is not measured, unless it is the run's last and no
	// other step is.
	first := step == t.start+1 || l.rb != nil && l.rb.skip
	if !first || step == cfg.Steps && len(l.measured) == 0 {
		if len(l.measured) == keepSteps {
			l.measured = append(l.measured[:0], l.measured[1:]...)
		}
		l.measured = append(l.measured, res)
	}
	p := Progress{Step: step, Steps: cfg.Steps, Loss: res.Loss, LR: in.Adam.LR, GradNorm: res.GradNorm, ValLoss: math.NaN(),
		TokensPerSec: float64((step-t.start)*cfg.Batch*cfg.Context) / l.trainTime.Seconds()}
	l.last = stepMetric(step, res, in.Adam.LR, took, cfg.Batch*cfg.Context, l.last.Idle)
	p.Warning = l.slow.observe(step, res)
	if l.rb != nil {
		// No move after the run's last step, nor after one a signal came
		// in: the run stops after it (ranks agree on stopping only later,
		// and all move alike, so there only the last step counts).
		last := step == cfg.Steps || cfg.Group == nil && ctx.Err() != nil
		note, moved, err := l.rb.after(t, step, res, last)
		if err != nil {
			return Progress{}, err
		}
		if moved {
			l.measured = l.measured[:0] // the report is of the final split
			l.slow.reset()
		}
		sum.Rebalances = append(sum.Rebalances[:l.movesBefore], l.rb.moves...) // for the checkpoints, which keep them
		p.Notice = note
	}
	return p, nil
}
