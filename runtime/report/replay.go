// What-if replay: a run's measured costs, per device and per unit, simulated under another schedule, split or micro-batch count.

package report

import (
	"fmt"
	"math"

	"baton/model"
	"baton/runtime/schedule"
)

// StageCost is a stage's mean measured time per action kind, in seconds.
type StageCost struct {
	Stage int     `json:"stage"`
	F     float64 `json:"f_s"`
	B     float64 `json:"b_s"`
	I     float64 `json:"i_s,omitempty"`
	W     float64 `json:"w_s,omitempty"`
	Send  float64 `json:"send_s"` // a send's copy, either direction
}

// actionTimes sums the steps' action times per stage and kind, with their
// counts. A receive's own time is what it did after waiting.
func actionTimes(steps []*Step, stages int) (sum, n [][schedule.NumKinds]float64) {
	sum, n = make([][schedule.NumKinds]float64, stages), make([][schedule.NumKinds]float64, stages)
	for _, res := range steps {
		for _, recs := range res.Records {
			for _, r := range recs {
				sum[r.Action.Stage][r.Action.Kind] += (r.End - r.Start - r.Wait).Seconds()
				n[r.Action.Stage][r.Action.Kind]++
			}
		}
	}
	return sum, n
}

// MeasuredCosts averages the steps' action times per stage and kind; sends
// in either direction are one cost.
func MeasuredCosts(steps []*Step, stages int) []StageCost {
	sum, n := actionTimes(steps, stages)
	for s := range sum {
		sum[s][schedule.SendF] += sum[s][schedule.SendB]
		n[s][schedule.SendF] += n[s][schedule.SendB]
	}
	mean := func(s int, k schedule.Kind) float64 {
		if n[s][k] == 0 {
			return 0
		}
		return sum[s][k] / n[s][k]
	}
	out := make([]StageCost, stages)
	for s := range out {
		out[s] = StageCost{Stage: s, F: mean(s, schedule.F), B: mean(s, schedule.B), I: mean(s, schedule.I), W: mean(s, schedule.W), Send: mean(s, schedule.SendF)}
	}
	return out
}

// unitCost is a unit's seconds per micro-batch: its forward, its backward
// whole (B) and split (I then W).
type unitCost struct{ F, B, I, W float64 }

func (c unitCost) scaled(k float64) unitCost {
	return unitCost{c.F * k, c.B * k, c.I * k, c.W * k}
}

func (c unitCost) plus(o unitCost) unitCost {
	return unitCost{c.F + o.F, c.B + o.B, c.I + o.I, c.W + o.W}
}

// Replay prices any split or schedule of a run's model from what the run
// measured. Every decoder block costs the same on a given device (they
// have one shape), so a device's cost of a block is its speed: a block
// moved to another device costs what that device's blocks cost, which is
// what makes a slow device's share shrink. The embedding is always on the
// first device and the head on the last, whatever the split.
//
// With per-layer times (--profile-layers) the costs are measured per unit;
// without, a stage's forward time is shared among its blocks and the head
// by their FLOPs (the head's backward runs inside its forward), and its
// backward among its blocks.
type Replay struct {
	Config   model.Config
	Context  int
	Batch    int
	Measured string // "layers" or "stages": where the costs come from
	// Balanced says the run chose its split on measured times, as a
	// diagnosis would suggest (--balance measured, --rebalance auto).
	Balanced bool
	// Precision is the run's, one of model.Precisions, whose memory every
	// choice's is counted in ("": fp32's).
	Precision string

	block     []unitCost // per device of the measured run: one decoder block
	embed     unitCost   // on the first device; its backward is part of B, or of W when split
	head      unitCost   // on the last device; F holds its fused backward
	send      float64
	measuredM int
	recompute model.Recompute // what the measured run's blocks recomputed
	eager     bool            // the run stepped its optimizer eagerly, whose copy any choice's memory counts
	vocab     int             // the data's vocabulary, where the model's pads it: the head's mask, which any choice's memory counts
}

// NewReplay prices the units from a run's plan and measured costs: its
// layers' when it timed them (layers non-empty), else its stages'.
func NewReplay(cfg model.Config, T, batch, m int, plan *model.Plan, costs []StageCost, layers []LayerCost) (*Replay, error) {
	if len(costs) != len(plan.Stages) {
		return nil, fmt.Errorf("replay: %d stage costs for %d planned stages", len(costs), len(plan.Stages))
	}
	p := plan.Devices()
	r := &Replay{Config: cfg, Context: T, Batch: batch, measuredM: m, block: make([]unitCost, p), recompute: plan.Recompute, eager: plan.EagerOptimizer, vocab: plan.Vocab}
	var sends, nsend float64
	for _, c := range costs {
		if c.Send > 0 {
			sends += c.Send
			nsend++
		}
	}
	if nsend > 0 {
		r.send = sends / nsend
	}
	if len(layers) > 0 {
		r.Measured = "layers"
		return r, r.fromLayers(layers)
	}
	r.Measured = "stages"
	r.fromStages(plan, costs, p)
	return r, nil
}

// weightShare is the weight-gradient part of a block's backward FLOPs: the
// four linear layers' dW, 24C² of 48C² + 4TC per token. It splits a
// backward measured whole into the I and W a split schedule would run.
func (r *Replay) weightShare() float64 {
	C, T := float64(r.Config.C), float64(r.Context)
	return 24 * C * C / (48*C*C + 4*T*C)
}

// completed fills a unit's missing backward form from the one measured.
func (r *Replay) completed(c unitCost) unitCost {
	switch {
	case c.B == 0:
		c.B = c.I + c.W
	case c.I == 0 && c.W == 0:
		c.I, c.W = c.B*(1-r.weightShare()), c.B*r.weightShare()
	}
	return c
}

func (r *Replay) fromLayers(layers []LayerCost) error {
	n := make([]float64, len(r.block))
	for _, l := range layers {
		c := unitCost{l.F, l.B, l.I, l.W}
		switch {
		case l.Unit == model.EmbeddingUnit:
			// The embedding's backward runs in B, or in W when split: never in I.
			r.embed = unitCost{F: c.F, B: c.B + c.W, W: c.B + c.W}
		case l.Unit == r.Config.HeadUnit():
			r.head = c
		case l.Device < 0 || l.Device >= len(r.block):
			return fmt.Errorf("replay: layer %s on device %d of %d", l.Name, l.Device, len(r.block))
		default:
			r.block[l.Device] = r.block[l.Device].plus(r.completed(c))
			n[l.Device]++
		}
	}
	for d := range r.block {
		if n[d] == 0 {
			return fmt.Errorf("replay: device %d has no timed block", d)
		}
		r.block[d] = r.block[d].scaled(1 / n[d])
	}
	return nil
}

func (r *Replay) fromStages(plan *model.Plan, costs []StageCost, p int) {
	blockF, headF := r.Config.BlockFLOPsPerToken(r.Context)/3, r.Config.HeadFLOPsPerToken()
	n := make([]float64, p)
	for s, st := range plan.Stages {
		c, k := costs[s], float64(st.Blocks())
		fwd := k * blockF
		if st.Head {
			fwd += headF
			r.head = unitCost{F: c.F * headF / fwd}
		}
		one := r.completed(unitCost{F: c.F * blockF / fwd, B: c.B / k, I: c.I / k, W: c.W / k})
		r.block[s%p] = r.block[s%p].plus(one.scaled(k))
		n[s%p] += k
	}
	for d := range r.block {
		r.block[d] = r.block[d].scaled(1 / n[d])
	}
}

// OnDevices is r for the same run's model on other devices: device i's
// blocks cost what the run's device from[i] measured, times scale[i]; for
// from[i] < 0 (a device the run did not have), the mean of the run's
// devices' costs, each divided by its own slow-down runSlow[j], times
// scale[i]. The embedding and the head keep their measured costs.
func (r *Replay) OnDevices(from []int, scale, runSlow []float64) *Replay {
	mean := r.meanBlock(runSlow)
	out := *r
	out.block = make([]unitCost, len(from))
	for i, j := range from {
		c := mean
		if j >= 0 {
			c = r.block[j]
		}
		out.block[i] = c.scaled(scale[i])
	}
	return &out
}

// blockOn is a block's cost on device d: measured, or for a device the run
// did not have (a what-if on more devices, none named), the mean over
// those it had as measured: more devices of the kinds the run had.
func (r *Replay) blockOn(d int) unitCost {
	if d < len(r.block) {
		return r.block[d]
	}
	return r.meanBlock(nil)
}

// meanBlock is the mean of the run's devices' block costs, each divided by
// its slow-down slow[j] (nil: as measured).
func (r *Replay) meanBlock(slow []float64) unitCost {
	var sum unitCost
	for j, c := range r.block {
		if slow != nil {
			c = c.scaled(1 / slow[j])
		}
		sum = sum.plus(c)
	}
	return sum.scaled(1 / float64(len(r.block)))
}

// stageCost is the cost per micro-batch of stage s of a pipeline of
// stages stages over p devices, holding k blocks that recompute as rc says,
// at the run's micro-batch.
func (r *Replay) stageCost(s, stages, p, k int, rc model.Recompute) unitCost {
	c := r.recomputed(r.blockOn(s%p), rc).scaled(float64(k))
	if s == 0 {
		c = c.plus(r.embed)
	}
	if s == stages-1 {
		c = c.plus(r.head)
	}
	return c
}

// BalancedSplit is the exact min–max split of the blocks over the stages
// of p devices × v chunks on the measured costs (a stage's forward and
// backward per micro-batch, its blocks recomputing as rc says), with fits
// saying whether stage s can hold k blocks (its device's memory; nil: any
// number); nil when no split fits.
func (r *Replay) BalancedSplit(p, v int, rc model.Recompute, fits func(stage, blocks int) bool) []int {
	stages := p * v
	return model.MinMaxSplit(r.Config.L, stages, func(s, k int) float64 {
		if fits != nil && !fits(s, k) {
			return math.Inf(1)
		}
		c := r.stageCost(s, stages, p, k, rc)
		return c.F + c.B
	})
}

// Choice is one way to run the replayed model: a generated schedule over
// Devices devices with Microbatches micro-batches and Chunks chunks, the
// blocks split as Split says (nil: balanced by FLOPs, as the planner does),
// and what the blocks recompute.
type Choice struct {
	Schedule     string          `json:"schedule"`
	Devices      int             `json:"devices"`
	Microbatches int             `json:"microbatches"`
	Chunks       int             `json:"chunks"`
	Split        []int           `json:"split"`
	Recompute    model.Recompute `json:"recompute"`
}

// Prediction is a replay's forecast for one choice.
type Prediction struct {
	Choice
	StepS    float64   `json:"pipeline_s"`
	IdleFrac []float64 `json:"idle_frac"`
	Bubble   float64   `json:"bubble"`
	// PeakBytes is each device's memory for training in the run's precision.
	PeakBytes []int64 `json:"peak_bytes"`
}

// rebuildShare is what recomputation adds to a block's backward, as a
// share of its forward: under block, the forward up to GELU again
// (two thirds of it) in a full backward, and in each of a split one's
// I and W; under gelu, one GELU, next to nothing.
func rebuildShare(r model.Recompute) float64 {
	if r == model.RecomputeBlock {
		return 2.0 / 3
	}
	return 0
}

// recomputed is a block's cost under r, from its cost as measured under
// the run's own recomputation.
func (r *Replay) recomputed(c unitCost, to model.Recompute) unitCost {
	extra := (rebuildShare(to) - rebuildShare(r.recompute)) * c.F
	return unitCost{c.F, c.B + extra, c.I + extra, c.W + extra}
}

// Predict simulates a choice. Per-micro-batch times scale with the
// micro-batch size: batch/m sequences instead of the run's batch/measuredM.
func (r *Replay) Predict(c Choice) (*Prediction, error) {
	sched, err := schedule.GenerateChunks(c.Schedule, c.Devices, c.Microbatches, max(c.Chunks, 1))
	if err != nil {
		return nil, err
	}
	p := c.Devices
	names := make([]string, p)
	for d := range names {
		names[d] = fmt.Sprintf("d%d", d)
	}
	m := sched.Microbatches
	if r.Batch%m != 0 {
		return nil, fmt.Errorf("%d micro-batches do not divide the batch of %d", m, r.Batch)
	}
	plan, err := model.Partition(r.Config, sched.StageDevices(names), model.PlanOptions{Split: c.Split, B: r.Batch / m, T: r.Context,
		Stashes: sched.Stashes(), Microbatches: m, SplitBackward: sched.SplitsBackward(), Recompute: c.Recompute, EagerOptimizer: r.eager, Vocab: r.vocab})
	if err != nil {
		return nil, err
	}
	scale := float64(r.measuredM) / float64(m)
	stage := make([]unitCost, len(plan.Stages))
	peak := make([]int64, p)
	for s, st := range plan.Stages {
		stage[s] = r.stageCost(s, len(plan.Stages), p, st.Blocks(), c.Recompute).scaled(scale)
		peak[s%p] += st.MemFor(r.Precision)
	}
	tl, err := schedule.Simulate(schedule.Lower(sched), func(a schedule.Action) float64 {
		c := stage[a.Stage]
		switch a.Kind {
		case schedule.F:
			return c.F
		case schedule.B:
			return c.B
		case schedule.I:
			return c.I
		case schedule.W:
			return c.W
		case schedule.SendF, schedule.SendB:
			return r.send * scale
		}
		return 0
	})
	if err != nil {
		return nil, err
	}
	c.Schedule, c.Microbatches, c.Chunks, c.Split = sched.Name, m, sched.Chunks, plan.Split()
	return &Prediction{Choice: c, StepS: tl.StepTime, IdleFrac: tl.IdleFrac, Bubble: tl.Bubble, PeakBytes: peak}, nil
}
