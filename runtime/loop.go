// The training loop: batches through the executor, evaluation, checkpoints, and progress after every step.

package runtime

import (
	"baton/data"
	"baton/internal/field"
	"baton/kernels"
	"baton/model"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Progress is what the loop reports after every step.
type Progress struct {
	Step, Steps  int
	Loss         float64
	LR           float32
	GradNorm     float64
	TokensPerSec float64
	ValLoss      float64 // NaN unless this step evaluated
	Notice       string  // a line for the user about this step ("" none): a rebalance
	Warning      string  // a warning about this step ("" none): a straggling device
}

// microbatches views a host batch (Batch, T) as m micro-batches.
func microbatches(flat []int32, m int) [][]int32 {
	n := len(flat) / m
	out := make([][]int32, m)
	for i := range out {
		out[i] = flat[i*n : (i+1)*n]
	}
	return out
}

// keepSteps is how many of the last steps' records feed the report and trace.
const keepSteps = 10

// Run trains until cfg.Steps or until ctx is cancelled, then evaluates,
// saves a checkpoint and writes the report, trace and timeline under Out.
// On cancellation the step in flight finishes first and the checkpoint is
// written; the summary says Interrupted.
func (t *Trainer) Run(ctx context.Context, progress func(Progress)) (*Summary, error) {
	cfg := t.cfg
	pending, err := t.pendingEvaluation(ctx)
	if err != nil {
		return nil, err
	}
	metrics, kept, err := t.begin(pending)
	if err != nil {
		return nil, err
	}
	if metrics != nil {
		defer metrics.close()
	}
	sum := t.newSummary(kept)
	if t.start == cfg.Steps {
		sum.ValLoss = pending // the run's final evaluation, which a signal had stopped
	}
	t.sum = sum
	l := t.newLoop(sum)
	prior := len(sum.Losses)
	began := time.Now()
	step := t.start
	for step < cfg.Steps {
		stop := ctx.Err() != nil
		if g := cfg.Group; g != nil {
			if stop, err = g.anyStop(step+1, stop); err != nil {
				return nil, err
			}
		}
		if stop {
			sum.Interrupted = true
			break
		}
		step++
		p, err := t.oneStep(ctx, l, sum, step)
		if err != nil {
			return nil, err
		}
		if err := t.between(ctx, step, l.in, &p, &l.last, metrics); err != nil {
			return nil, err
		}
		if progress != nil {
			progress(p)
		}
	}
	sum.Steps = step
	sum.Plan = t.plan
	sum.Stragglers = l.slow.found
	sum.Seconds = time.Since(began).Seconds()
	if n := len(sum.Losses) - prior; n > 0 {
		sum.FirstLoss, sum.LastLoss = ptr(sum.Losses[prior]), ptr(sum.Losses[len(sum.Losses)-1])
		sum.TokensPerSec = float64(n*cfg.Batch*cfg.Context) / l.trainTime.Seconds()
	} else if n := len(sum.Losses); n > 0 { // a start that trained none (it writes a lost summary): the run's
		sum.FirstLoss, sum.LastLoss = ptr(sum.Losses[0]), ptr(sum.Losses[n-1])
	}
	if err := t.finish(ctx, sum, l.in, l.measured, &l.last, metrics); err != nil {
		return nil, err
	}
	return sum, nil
}

// ptr is a pointer to a copy of x, for a summary's nullable figures.
func ptr(x float64) *float64 { return &x }

// pendingEvaluation evaluates the checkpoint a resume starts from where a
// signal had stopped its evaluation (TrainState.EvalPending): the loss that
// step's metrics line lacks. nil when none is pending, or when a signal
// stops it again (the checkpoint, not saved anew, still says so).
func (t *Trainer) pendingEvaluation(ctx context.Context) (*float64, error) {
	if !t.resumed.EvalPending {
		return nil, nil
	}
	switch val, err := t.evaluate(ctx, t.stepInput()); {
	case errors.Is(err, errEvalStopped):
		t.evalStopped = t.start
		return nil, nil
	case err != nil:
		return nil, err
	default:
		return &val, nil
	}
}

// begin opens the run's log and writes its record, in the one process
// that keeps them (lead); the others get nil and nothing. pending is the
// validation loss of the step resumed from, for its line (nil: none).
func (t *Trainer) begin(pending *float64) (*metricsLog, []Metric, error) {
	cfg := t.cfg
	if !t.lead() {
		return nil, nil, nil
	}
	if !cfg.Resume {
		if err := clearPrevious(cfg.Out); err != nil {
			return nil, nil, err
		}
	}
	// Each rank's part of the report is this start's: an earlier start's,
	// of more ranks or of an overwritten run, would pass for it.
	if err := clearRankSummaries(cfg.Out); err != nil {
		return nil, nil, err
	}
	// The log first: it refuses what the run could not write at its end,
	// before run.json records a start that then does not run.
	metrics, kept, err := openMetrics(cfg.Out, t.start, pending)
	if err != nil {
		return nil, nil, err
	}
	if err := t.writeRecord(); err != nil {
		metrics.close()
		return nil, nil, err
	}
	if t.outDir, err = os.Stat(cfg.Out); err != nil {
		metrics.close()
		return nil, nil, field.Errorf("out", "{out}: %v", err)
	}
	return metrics, kept, nil
}

// sameOut fails when the run directory is no longer the one the run
// started in (removed or moved while it ran): writing on would make a new
// one there, split from the run's record, log and lock.
func (t *Trainer) sameOut() error {
	if t.outDir == nil {
		return nil // another rank's: rank 0 keeps the directory
	}
	if now, err := os.Stat(t.cfg.Out); err != nil || !os.SameFile(now, t.outDir) {
		return field.Errorf("out", "{out} %s was removed or moved while the run ran; stopping rather than making a new one, apart from the run's run.json, metrics.jsonl and earlier checkpoints", t.cfg.Out)
	}
	return nil
}

// lead says whether this process keeps the run's record, log, checkpoint
// and report: the only one, or rank 0 of several.
func (t *Trainer) lead() bool { return t.cfg.Group == nil || t.cfg.Group.Rank() == 0 }

// logDue reports whether step's metrics line is to be written: every
// LogEvery steps, on a step that evaluated, and on the run's last step.
func (t *Trainer) logDue(m *Metric) bool {
	return m.Step%max(t.cfg.LogEvery, 1) == 0 || t.evalDue(m.Step) || m.Step == t.cfg.Steps
}

// evalDue says whether step evaluates (the run's last always does, at its end).
func (t *Trainer) evalDue(step int) bool {
	return t.cfg.EvalEvery > 0 && step%t.cfg.EvalEvery == 0
}

// newSummary is the summary of a run before its first step, with the
// losses of the steps before it on a resume (kept: the metrics log's).
func (t *Trainer) newSummary(kept []Metric) *Summary {
	cfg := t.cfg
	sum := &Summary{SchemaVersion: SummarySchema, Version: Version(), Preset: cfg.Preset, Config: cfg.Model, Params: cfg.Model.NumParams(), Schedule: t.ex.Sched.Name,
		Microbatches: t.ex.Sched.Microbatches, Batch: cfg.Batch, Context: cfg.Context, StartStep: t.start, Data: t.ds.Describe(), Plan: t.plan}
	prev := previousSummary(cfg.Out)
	sum.Losses, sum.LossesFirstStep = priorLosses(t.resumed, prev, t.start, kept)
	sum.Rebalances = priorMoves(t.resumed, prev, t.start)
	sum.Devices = cfg.deviceNames()
	sum.Precision = cfg.Precision.String()
	switch {
	case cfg.Rebalance.Mode == "auto":
		sum.Balance = "auto"
	case cfg.Balance == "measured":
		sum.Balance = "measured"
	}
	return sum
}

// stepInput is the step input over the trainer's batch buffers.
func (t *Trainer) stepInput() *StepInput {
	cfg, m := t.cfg, t.ex.Sched.Microbatches
	return &StepInput{
		Tokens: microbatches(t.inputs, m), Targets: microbatches(t.targets, m),
		DScale:      1 / float32(cfg.Batch*cfg.Context),
		MaxGradNorm: cfg.MaxGradNorm,
		Adam:        kernels.AdamParams{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: cfg.WeightDecay},
	}
}

// stepError is err, of step, with the step named: a NumericError names it
// already. (Apart from trainStep, whose steps must not allocate.)
func stepError(step int, err error) error {
	var numeric *NumericError
	if errors.As(err, &numeric) {
		return err
	}
	return fmt.Errorf("step %d: %w", step, err)
}

// trainStep loads step in.AdamStep's batch and runs it, into the result
// into when not nil (Executor.RunInto).
func (t *Trainer) trainStep(in *StepInput, into *StepResult) (*StepResult, error) {
	step := in.AdamStep
	if err := t.train.Batch(step-1, t.inputs, t.targets); err != nil {
		return nil, err
	}
	t.kprof.discard() // what evaluation and checkpoints ran is not the step's
	res, err := t.ex.RunInto(in, into)
	if err != nil {
		return nil, stepError(step, err)
	}
	t.kprof.keep(res)
	if math.IsNaN(res.Loss) || math.IsInf(res.Loss, 0) {
		return nil, field.Errorf("lr", "step %d: the loss is %v; "+divergedAdvice(t.cfg.MaxGradNorm > 0)+" (the last checkpoint is unchanged)", step, res.Loss)
	}
	return res, nil
}

// between evaluates, logs and saves after step when the run asks to,
// except after the last step, which finish does. The metrics line goes
// before the checkpoint, so that no checkpoint is ahead of the log.
func (t *Trainer) between(ctx context.Context, step int, in *StepInput, p *Progress, m *Metric, metrics *metricsLog) error {
	cfg := t.cfg
	if step == cfg.Steps {
		return nil
	}
	if t.evalDue(step) {
		switch val, err := t.evaluate(ctx, in); {
		case errors.Is(err, errEvalStopped):
			// The step goes on without a validation loss, and the loop stops
			// after it: its checkpoint says so, and a resume evaluates it.
			t.evalStopped = step
		case err != nil:
			return err
		default:
			p.ValLoss, m.ValLoss = val, &val
			t.lastEval = evalAt{step, val}
		}
	}
	if t.logDue(m) {
		if err := metrics.write(*m); err != nil {
			return err
		}
	}
	if cfg.SaveEvery > 0 && step%cfg.SaveEvery == 0 && !cfg.SkipCheckpoint {
		return t.save(step)
	}
	return nil
}

// finish evaluates (unless interrupted), logs the last step, saves the
// checkpoint and writes the run's report and summary.
func (t *Trainer) finish(ctx context.Context, sum *Summary, in *StepInput, measured []*StepResult, last *Metric, metrics *metricsLog) error {
	if e := t.lastEval; sum.ValLoss == nil && e.step == sum.Steps && e.step > 0 {
		sum.ValLoss = &e.loss // a stop just after an evaluation: the run's last step has its loss
	}
	if !sum.Interrupted && sum.ValLoss == nil {
		switch val, err := t.evaluate(ctx, in); {
		case errors.Is(err, errEvalStopped):
			// Every step ran; its validation loss was not measured, which
			// the checkpoint says, so that a resume evaluates it.
			sum.Interrupted, t.evalStopped = true, sum.Steps
		case err != nil:
			return err
		default:
			sum.ValLoss = &val
		}
		if last.Step == sum.Steps && sum.Steps == t.cfg.Steps {
			last.ValLoss = sum.ValLoss
			if err := metrics.write(*last); err != nil {
				return err
			}
		}
	}
	// A start that trained no step has nothing new to save: a run stopped
	// before its first step (a checkpoint holds at least one), or a resume
	// that only writes the summary its run's end did not; but one that
	// evaluated what a signal had stopped saves, so that its checkpoint no
	// longer says the evaluation is pending.
	// Nor does one whose last step's checkpoint, as it stands, was saved
	// (a stop just after a --save-every): for a large model, writing it
	// again would hold up the stop.
	evaluated := t.resumed.EvalPending && t.evalStopped != t.start
	saved := t.saved == (savedState{sum.Steps, t.evalStopped == sum.Steps})
	if !t.cfg.SkipCheckpoint && !saved && (sum.Steps > t.start || evaluated && sum.Steps == t.start) {
		if err := t.save(sum.Steps); err != nil {
			return err
		}
	}
	if !t.cfg.SkipCheckpoint && sum.Steps > 0 {
		sum.Checkpoint = CheckpointDir(t.cfg.Out)
	}
	if err := t.sameOut(); err != nil {
		return err
	}
	if len(measured) > 0 {
		if err := t.writeReport(sum, measured); err != nil {
			return t.recordLost(sum, err)
		}
	} else if sum.Steps > t.start && t.lead() {
		// This start trained but measured no step (a signal stopped it
		// after its first, which allocates): an earlier start's trace and
		// timeline would pass for its own.
		for _, f := range []string{TraceFile, TimelineFile} {
			if err := os.Remove(filepath.Join(t.cfg.Out, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return t.recordLost(sum, err)
			}
		}
	} else if prev := previousSummary(t.cfg.Out); t.lead() && sum.Steps == t.start && sum.ValLoss != nil && prev != nil && prev.Steps == sum.Steps {
		// This start only evaluated the run's end, which a signal had
		// stopped: the summary is the one that start wrote, now whole,
		// with its report of the steps it measured.
		prev.ValLoss, prev.Interrupted, prev.Version = sum.ValLoss, sum.Interrupted, sum.Version
		*sum = *prev
	}
	return t.recordLost(sum, t.writeSummary(sum))
}

// recordLost is err, of writing the run's report or summary after its
// last checkpoint, saying that the training is not lost with them (a full
// disk would otherwise read as the run's failure): the checkpoint holds
// the last step, and a resume at it writes what is missing.
func (t *Trainer) recordLost(sum *Summary, err error) error {
	if err == nil || sum.Checkpoint == "" {
		return err
	}
	return field.Errorf("resume", "%w; the training is kept: the checkpoint of step %d is in %s, and {resume} with the same {steps} writes the report and summary", err, sum.Steps, sum.Checkpoint)
}

// clearPrevious removes what an earlier run left in out that a resume or a
// replay of this one would take for its own: the checkpoint (and Save's
// .old and .tmp beside it), summary.json, trace.json and timeline.svg.
// run.json and metrics.jsonl are rewritten as the run starts. A new run
// starts where a checkpoint is only with --overwrite; without this, one
// killed before its first save would resume the old run's checkpoint, and
// one killed before its summary would take the old run's losses as its own.
func clearPrevious(out string) error {
	ck := CheckpointDir(out)
	for _, p := range []string{ck + ".tmp", ck + ".old", ck, filepath.Join(out, "summary.json"), filepath.Join(out, TraceFile), filepath.Join(out, TimelineFile)} {
		if err := os.RemoveAll(p); err != nil {
			return field.Errorf("out", "{out}: removing the previous run's %s: %v", p, err)
		}
	}
	return nil
}

// clearRankSummaries removes the summaries of the ranks of earlier starts
// in out (ranks/N/summary.json), not their directories: a rank of this
// start may hold its lock there.
func clearRankSummaries(out string) error {
	old, _ := filepath.Glob(filepath.Join(out, "ranks", "*", "summary.json"))
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			return field.Errorf("out", "{out}: removing an earlier start's %s: %v", p, err)
		}
	}
	return nil
}

// ownDir is where this process writes its summary: the run directory, or
// for a rank other than 0, ranks/N in it (rank 0 writes the whole run's).
func (t *Trainer) ownDir() string {
	if t.lead() {
		return t.cfg.Out
	}
	return filepath.Join(t.cfg.Out, "ranks", strconv.Itoa(t.cfg.Group.Rank()))
}

// errEvalStopped is evaluate's error when a signal stopped it.
var errEvalStopped = errors.New("evaluation stopped")

// evaluate is the mean loss over the first EvalBatches validation batches.
func (t *Trainer) evaluate(ctx context.Context, in *StepInput) (float64, error) {
	n := min(max(t.cfg.EvalBatches, 1), t.val.Len())
	var total float64
	for i := range n {
		// A signal stops a long evaluation at once. Not on ranks, which
		// evaluate together and agree on stopping only between steps.
		if ctx.Err() != nil && t.cfg.Group == nil {
			return 0, errEvalStopped
		}
		if err := t.val.Batch(i, t.inputs, t.targets); err != nil {
			return 0, err
		}
		loss, err := t.ex.Evaluate(in)
		if err != nil {
			return 0, fmt.Errorf("evaluation: %w", err)
		}
		total += loss
	}
	return total / float64(n), nil
}

func (t *Trainer) save(step int) error {
	var ck *model.Checkpoint
	err := guard(func() error { // reading the parameters back may fail on a device
		var err error
		state := TrainState{Step: step, Seed: t.cfg.Seed, Preset: t.cfg.Preset, EvalPending: t.evalStopped == step}
		if t.sum != nil {
			state.Losses, state.LossesFirstStep, state.Rebalances = t.sum.Losses, t.sum.LossesFirstStep, t.sum.Rebalances
		}
		if t.cfg.balancesLive() {
			state.Split, state.SplitDevices, state.BalanceChecked = t.plan.Split(), t.cfg.deviceNames(), t.balanceChecked
		}
		ck, err = gather(t.stages, t.cfg.Model, state)
		return err
	})
	if err != nil {
		return err
	}
	ck.Tokens = model.TokensBytes
	if t.ds.Describe().V == data.GPT2Vocab { // GPT-2's tokens: its tokenizer beside the model, for transformers
		ck.Tokens = model.TokensGPT2
		if ck.Extra, err = data.NewGPT2().TokenizerFiles(t.cfg.Model.MaxT); err != nil {
			return err
		}
	}
	if t.cfg.Group != nil {
		err = t.saveGroup(step, ck)
	} else if err = t.sameOut(); err == nil {
		err = t.saveError(step, model.Save(CheckpointDir(t.cfg.Out), ck))
	}
	if err == nil {
		t.saved = savedState{step, t.evalStopped == step}
	}
	return err
}

// evalAt is a step's validation loss.
type evalAt struct {
	step int
	loss float64
}

// savedState is what distinguishes a run's checkpoints at one point of a
// start: the step, and whether its evaluation is pending.
type savedState struct {
	step        int
	evalPending bool
}

// saveError is err, a save's at step, said as what it means: a tensor
// that is not finite is a training that diverged.
func (t *Trainer) saveError(step int, err error) error {
	if errors.Is(err, model.ErrNotFinite) {
		return field.Errorf("lr", "step %d: %w; the training diverged: "+divergedAdvice(t.cfg.MaxGradNorm > 0), step, err)
	}
	return err
}
