// Live rebalancing: when to re-cut the split on measured layer times between two steps, and to which split.

package runtime

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"baton/internal/field"
	"baton/model"
	"baton/runtime/report"
)

// Rebalance says whether and how a run re-splits itself while training.
type Rebalance struct {
	Mode    string  // "off" ("" too) or "auto"
	Warmup  int     // measured steps before a check (0 means 3); the first step after a start or a move is not measured
	Every   int     // steps between checks (0 means 50)
	MinGain float64 // the predicted gain a move needs, a fraction (0 means 0.05)
}

func (r Rebalance) warmup() int      { return cmp.Or(r.Warmup, 3) }
func (r Rebalance) every() int       { return cmp.Or(r.Every, 50) }
func (r Rebalance) minGain() float64 { return cmp.Or(r.MinGain, 0.05) }

// validateBalance checks the balancing settings: a measured split needs a
// generated schedule (the replay prices only those), stages to balance,
// and no split given by hand.
func (c *TrainConfig) validateBalance() error {
	switch c.Balance {
	case "", "flops", "measured":
	default:
		return field.Errorf("balance", "{balance} %q is not one of flops, measured", c.Balance)
	}
	switch c.Rebalance.Mode {
	case "", "off", "auto":
	default:
		return field.Errorf("rebalance", "{rebalance} %q is not one of off, auto", c.Rebalance.Mode)
	}
	r := c.Rebalance
	switch {
	case r.Warmup < 0:
		return field.Errorf("rebalance-warmup", "{rebalance-warmup} is %d; give the measured steps before a check, at least 1", r.Warmup)
	case r.Every < 0:
		return field.Errorf("rebalance-every", "{rebalance-every} is %d; give the steps between checks, at least 1", r.Every)
	case !(r.MinGain >= 0 && r.MinGain < 1):
		return field.Errorf("rebalance-gain", "{rebalance-gain} is %g; give the predicted gain a move needs as a fraction from 0 to 1, e.g. 0.05", r.MinGain)
	}
	if !c.balancesLive() {
		return nil
	}
	what, off := c.balancing()
	switch {
	case len(c.Split) > 0 || len(c.LayerMap) > 0:
		return field.Errorf("balance", what+" chooses the split itself; drop {split} and {layer-map}, or {balance}/{rebalance}")
	case c.Sched != nil:
		return field.Errorf("balance", what+" predicts generated schedules only; drop {schedule-file} or {balance}/{rebalance}")
	case c.numDevices()*max(c.Chunks, 1) < 2 && c.Resume:
		return field.Errorf("balance", what+", which this run's run.json holds, needs two stages or more to balance; give more {devices}, or "+off+" to continue on one")
	case c.numDevices()*max(c.Chunks, 1) < 2:
		return field.Errorf("balance", what+" needs two stages or more to balance; give more {devices}")
	case !c.Resume && c.Steps < r.warmup()+2:
		// The first step allocates and is not measured, and no move follows
		// the last step: fewer steps would train on the FLOPs split throughout.
		return field.Errorf("steps", what+" re-splits after a first step and {rebalance-warmup} (%d) measured steps, and the new split needs a step to run: {steps} %d is too few; give {steps} %d or more, or a smaller {rebalance-warmup}", r.warmup(), c.Steps, r.warmup()+2)
	}
	return nil
}

// balancing names the setting that balances live and the one that
// turns it off, in a message's terms.
func (c *TrainConfig) balancing() (what, off string) {
	if c.Balance != "measured" {
		return "{rebalance} auto", "{rebalance} off"
	}
	if c.Rebalance.Mode == "auto" {
		return "{balance} measured", "{balance} flops and {rebalance} off"
	}
	return "{balance} measured", "{balance} flops"
}

// checkResumedBalancing refuses a resume from step start that balances
// anew (the run did not balance, or did on other devices) with too few
// steps left to re-split, as validateBalance refuses a new run: it would
// train on the FLOPs split throughout, saying it balanced.
func (c *TrainConfig) checkResumedBalancing(start int, onSplit bool) error {
	w := c.Rebalance.warmup()
	if !c.balancesLive() || onSplit || start >= c.Steps || c.Steps-start >= w+2 {
		return nil
	}
	what, _ := c.balancing()
	return field.Errorf("steps", what+" re-splits after a first step and {rebalance-warmup} (%d) measured steps, and the new split needs a step to run: the run resumes at step %d, so {steps} %d leaves %d, too few; give {steps} %d or more, or a smaller {rebalance-warmup}",
		w, start, c.Steps, c.Steps-start, start+w+2)
}

// balancesLive says whether the run re-splits itself while training.
func (c *TrainConfig) balancesLive() bool {
	return c.Balance == "measured" || c.Rebalance.Mode == "auto"
}

// Move is one re-split of a running pipeline, as summary.json records it.
type Move struct {
	Step          int     `json:"step"` // the last step on the old split
	From          []int   `json:"from"`
	To            []int   `json:"to"`
	PredictedGain float64 `json:"predicted_gain"`          // 1 − predicted step time on To / on From, both replayed from the same measured steps
	MeasuredGain  float64 `json:"measured_gain,omitempty"` // 1 − mean step time after / before, once measured
	Seconds       float64 `json:"seconds"`                 // the move itself
	// Via is how blocks that changed rank travelled: "nccl" (GPU to GPU)
	// or "host" (through the mesh); "devices" in one process, where every
	// block goes device to device.
	Via string `json:"via"`
	// BeforeS is the mean step time of the steps that priced the move,
	// which its measured gain compares with (after a resume too).
	BeforeS float64 `json:"before_s"`
}

// rebalancer watches a running pipeline's measured steps and re-splits it
// when the replay of those steps predicts a gain.
type rebalancer struct {
	cfg    Rebalance
	once   bool          // --balance measured: one check, any gain
	window []*StepResult // measured steps since the last check or move
	skip   bool          // the next step is the first on new stages: not measured (nor reported, loop.oneStep)
	next   int           // the step from which the next check may run
	moves  []Move        // done, the last one's measured gain pending while pending
	open   *Move         // the last move, until its gain is measured
	done   bool          // no more checks (once, after its check)
}

func newRebalancer(cfg TrainConfig) *rebalancer {
	if !cfg.balancesLive() {
		return nil
	}
	return &rebalancer{cfg: cfg.Rebalance, once: cfg.Balance == "measured" && cfg.Rebalance.Mode != "auto", skip: true}
}

// resumed continues a balancing run from its checkpoint's moves (prior),
// on the devices and split the last move left (onSplit), or on other
// devices, split anew: on its split, a move whose gain was not measured
// before the run stopped is measured now, and --balance measured, having
// checked (checked, or it moved), does not check again; on other devices
// it does. It returns how many of prior stay as they are; the rest are
// the rebalancer's to complete.
func (rb *rebalancer) resumed(prior []Move, onSplit, checked bool) int {
	if !onSplit {
		return len(prior)
	}
	rb.done = rb.once && (checked || len(prior) > 0)
	if n := len(prior); n > 0 && prior[n-1].MeasuredGain == 0 && prior[n-1].BeforeS > 0 {
		rb.moves = append(rb.moves, prior[n-1])
		rb.open = &rb.moves[0]
		return n - 1
	}
	return len(prior)
}

// after takes step's result and, when a check is due, re-splits t, unless
// step is the last the run trains (last). It returns a line for the user,
// or "", and whether the stages changed; an
// error only when the ranks of a run of several can no longer agree (one
// died or its link did).
func (rb *rebalancer) after(t *Trainer, step int, res *StepResult, last bool) (string, bool, error) {
	if rb.skip {
		rb.skip = false
		return "", false, nil
	}
	rb.window = append(rb.window, res)
	if len(rb.window) < rb.cfg.warmup() {
		return "", false, nil
	}
	if rb.open != nil { // the last move's gain, on as many steps as priced it
		rb.open.MeasuredGain = 1 - meanStepS(rb.window)/rb.open.BeforeS
		measured := fmt.Sprintf("%.0f%% shorter", 100*rb.open.MeasuredGain)
		if rb.open.MeasuredGain < 0 {
			measured = fmt.Sprintf("%.0f%% longer", -100*rb.open.MeasuredGain)
		}
		msg := fmt.Sprintf("rebalance at step %d: measured %s steps (predicted %.0f%% shorter)", rb.open.Step, measured, 100*rb.open.PredictedGain)
		rb.open = nil
		rb.window = rb.window[:0]
		return msg, false, nil
	}
	// No move after the last step (of the run, or before a signal stops
	// it): no step would run on it, and the report would have no measured
	// step of the final split.
	if rb.done || step < rb.next || last {
		rb.window = rb.window[1:]
		return "", false, nil
	}
	msg, moved, err := t.rebalance(step, rb)
	rb.window = rb.window[:0]
	rb.next = step + min(rb.cfg.every(), math.MaxInt-step)
	rb.done = rb.once
	t.balanceChecked = t.balanceChecked || rb.once
	if moved {
		rb.skip = true
		rb.open = &rb.moves[len(rb.moves)-1]
	}
	return msg, moved, err
}

// meanStepS is the mean whole-step time of steps.
func meanStepS(steps []*StepResult) float64 {
	var sum time.Duration
	for _, s := range steps {
		sum += s.Time
	}
	return sum.Seconds() / float64(len(steps))
}

// verdict is a check's outcome: the split to move to (To nil: stay, for
// the reason Line gives), priced on the same measured steps as the split
// it leaves.
type verdict struct {
	From, To   []int
	Gain       float64 // 1 − predicted step time on To / on From
	CurS, BalS float64 // the predicted step times on From and To
	BeforeS    float64 // the mean measured step time of the priced steps
	Line       string
}

// rebalance prices the current split and the balanced one on the window's
// measured layer times and moves to the balanced one when it predicts at
// least the minimum gain (any gain, once). In a run of several, rank 0
// prices the window every rank's records make up, and every rank moves or
// none does. On an error the old split stays.
func (t *Trainer) rebalance(step int, rb *rebalancer) (string, bool, error) {
	need := rb.cfg.minGain()
	if rb.once {
		need = 0
	}
	v, err := t.verdictOf(step, rb.window, need)
	if err != nil || v.To == nil {
		return v.Line, false, err
	}
	began := time.Now()
	via, refused, err := t.move(step, v.To)
	if err != nil || refused != nil {
		return fmt.Sprintf("rebalance at step %d: moving to split %s failed (%v); the split %s stays", step, model.JoinInts(v.To), refused, model.JoinInts(v.From)), false, err
	}
	rb.moves = append(rb.moves, Move{Step: step, From: v.From, To: v.To, PredictedGain: v.Gain, Seconds: time.Since(began).Seconds(), Via: via, BeforeS: v.BeforeS})
	return fmt.Sprintf("rebalance at step %d: split %s → %s (%s), predicted %.0f%% shorter steps (%.1f → %.1f ms)",
		step, model.JoinInts(v.From), model.JoinInts(v.To), movedBlocks(t.plan, v.From), 100*v.Gain, v.CurS*1e3, v.BalS*1e3), true, nil
}

// verdictOf prices window: here, or in a run of several on rank 0, which
// gets every rank's records of it and tells every rank its verdict.
func (t *Trainer) verdictOf(step int, window []*StepResult, need float64) (verdict, error) {
	if t.cfg.Group == nil {
		return t.price(step, window, need), nil
	}
	return t.groupVerdict(step, window, need)
}

// move re-splits the stages on split, its blocks going via (Move.Via):
// refused (the old split stays) or failed for good (a run of several lost
// a rank).
func (t *Trainer) move(step int, split []int) (via string, refused, err error) {
	if t.cfg.Group == nil {
		return "devices", t.resplit(split), nil
	}
	return t.resplitGroup(step, split)
}

// price is window's verdict: the balanced split and its predicted gain.
func (t *Trainer) price(step int, window []*StepResult, need float64) verdict {
	steps := make([]*report.Step, len(window))
	for i, r := range window {
		steps[i] = &r.Step
	}
	cfg, s := t.cfg, t.ex.Sched
	p, v := len(t.ex.Devices), s.Chunks
	r, err := report.NewReplay(cfg.Model, cfg.Context, cfg.Batch, s.Microbatches, t.plan,
		report.MeasuredCosts(steps, len(t.stages)), report.LayerCosts(steps, cfg.Model.UnitName))
	if err != nil {
		return verdict{Line: fmt.Sprintf("rebalance at step %d: %v; the split stays", step, err)}
	}
	r.Precision = cfg.Precision.String()
	from := t.plan.Split()
	to := r.BalancedSplit(p, v, cfg.Recompute, t.stageFits())
	now := report.Choice{Schedule: s.Name, Devices: p, Microbatches: s.Microbatches, Chunks: v, Split: from, Recompute: cfg.Recompute}
	cur, err1 := r.Predict(now)
	now.Split = to
	bal, err2 := r.Predict(now)
	if err := cmp.Or(err1, err2); err != nil || to == nil {
		return verdict{Line: fmt.Sprintf("rebalance at step %d: no balanced split (%v); the split stays", step, err)}
	}
	gain := 1 - bal.StepS/cur.StepS
	switch {
	case slices.Equal(from, to):
		return verdict{Line: fmt.Sprintf("rebalance at step %d: split %s stays: it is the balanced split of the measured times", step, model.JoinInts(from))}
	case gain <= need:
		return verdict{Line: fmt.Sprintf("rebalance at step %d: split %s stays: the balanced split %s would gain %.1f%%, and %.0f%% is needed", step, model.JoinInts(from), model.JoinInts(to), 100*gain, 100*need)}
	}
	return verdict{From: from, To: to, Gain: gain, CurS: cur.StepS, BalS: bal.StepS, BeforeS: meanStepS(window)}
}

// movedBlocks says which blocks changed device, in words.
func movedBlocks(now *model.Plan, from []int) string {
	var parts []string
	first := 0
	for s, k := range from {
		for l := first; l < first+k; l++ {
			for _, st := range now.Stages {
				if l >= st.FirstLayer && l <= st.LastLayer && st.Index != s {
					parts = append(parts, fmt.Sprintf("h.%d to %s", l, st.Device))
				}
			}
		}
		first += k
	}
	if len(parts) > 4 {
		return fmt.Sprintf("%d blocks moved", len(parts))
	}
	return strings.Join(parts, ", ")
}

// stageFits says whether stage s can hold k blocks: on GPUs, within its
// GPU's memory shared evenly among the GPU's stages; on virtual CPU
// devices any number (they share the host, whose memory checkFits weighs
// against the whole plan before a move). In a run of several, rank 0
// weighs every rank's GPUs as each told it when joining; each rank still
// weighs its own part before the move, which its GPUs' free memory may
// refuse.
func (t *Trainer) stageFits() func(s, k int) bool {
	gpus, sched := t.gpus(), t.ex.Sched
	shares := map[string]int64{}
	for s := range t.stages {
		if on := gpus[sched.DeviceOf(s)]; on.Memory > 0 {
			shares[on.GPU]++
		}
	}
	if len(shares) == 0 {
		return nil
	}
	opts, last := planOptions(t.cfg, sched), len(t.stages)-1
	return func(s, k int) bool {
		on := gpus[sched.DeviceOf(s)]
		need := t.cfg.Model.StageBytesIn(t.cfg.Precision.String(), s, k, s == 0, s == last, opts)
		return on.Memory == 0 || need <= on.Memory/shares[on.GPU]
	}
}
