// What-if replay: a run's measured action times, re-cut per layer, simulated under another schedule or split.

package report

import (
	"fmt"

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

// Replay re-cuts a run's measured stage costs into per-block costs, so any
// other split or schedule of the same model can be priced. A stage's
// forward time is shared among its blocks and the head by their FLOPs (the
// head's backward runs inside its forward); backward times among the blocks.
type Replay struct {
	Config    model.Config
	Context   int
	Batch     int
	blockF    []float64 // per block: forward seconds per micro-batch
	blockB    []float64 // per block: full backward
	blockWFr  float64   // the weight-gradient share of a block's backward
	head      float64   // the head's forward+backward, fused in the last stage's F
	send      float64
	measuredM int
}

// NewReplay prices each block from a run's plan and measured costs.
func NewReplay(cfg model.Config, T, batch, m int, plan *model.Plan, costs []StageCost) (*Replay, error) {
	if len(costs) != len(plan.Stages) {
		return nil, fmt.Errorf("replay: %d stage costs for %d planned stages", len(costs), len(plan.Stages))
	}
	r := &Replay{Config: cfg, Context: T, Batch: batch, measuredM: m, blockF: make([]float64, cfg.L), blockB: make([]float64, cfg.L)}
	blockF, headF := cfg.BlockFLOPsPerToken(T)/3, cfg.HeadFLOPsPerToken()
	C, Tf := float64(cfg.C), float64(T)
	// Weight gradients are the four linear layers' dW: 24C² of a block
	// backward's 48C² + 4TC FLOPs per token.
	r.blockWFr = 24 * C * C / (48*C*C + 4*Tf*C)
	var sends, nsend float64
	for s, st := range plan.Stages {
		c := costs[s]
		back := c.B
		if back == 0 {
			back = c.I + c.W
		}
		n := float64(st.Blocks())
		fwdFLOPs := n * blockF
		if st.Head {
			fwdFLOPs += headF
			r.head = c.F * headF / fwdFLOPs
		}
		for l := st.FirstLayer; l <= st.LastLayer; l++ {
			r.blockF[l] = c.F * blockF / fwdFLOPs
			r.blockB[l] = back / n
		}
		if c.Send > 0 {
			sends += c.Send
			nsend++
		}
	}
	if nsend > 0 {
		r.send = sends / nsend
	}
	return r, nil
}

// Prediction is a replay's forecast for one schedule and split.
type Prediction struct {
	Schedule     string    `json:"schedule"`
	Microbatches int       `json:"microbatches"`
	Chunks       int       `json:"chunks"`
	Split        []int     `json:"split"`
	StepS        float64   `json:"pipeline_s"`
	IdleFrac     []float64 `json:"idle_frac"`
	Bubble       float64   `json:"bubble"`
}

// Predict simulates schedule over p devices with m micro-batches and v
// chunks, on split (nil: the planner's). Per-micro-batch times scale with the
// micro-batch size: batch/m sequences instead of the run's batch/measuredM.
func (r *Replay) Predict(name string, p, m, v int, split []int) (*Prediction, error) {
	sched, err := schedule.GenerateChunks(name, p, m, v)
	if err != nil {
		return nil, err
	}
	names := make([]string, p)
	for d := range names {
		names[d] = fmt.Sprintf("d%d", d)
	}
	plan, err := model.Partition(r.Config, sched.StageDevices(names), model.PlanOptions{Split: split, T: r.Context})
	if err != nil {
		return nil, err
	}
	scale := float64(r.measuredM) / float64(sched.Microbatches)
	type cost struct{ f, b float64 }
	stage := make([]cost, len(plan.Stages))
	for s, st := range plan.Stages {
		for l := st.FirstLayer; l <= st.LastLayer; l++ {
			stage[s].f += r.blockF[l] * scale
			stage[s].b += r.blockB[l] * scale
		}
		if st.Head {
			stage[s].f += r.head * scale
		}
	}
	tl, err := schedule.Simulate(schedule.Lower(sched), func(a schedule.Action) float64 {
		c := stage[a.Stage]
		switch a.Kind {
		case schedule.F:
			return c.f
		case schedule.B:
			return c.b
		case schedule.I:
			return c.b * (1 - r.blockWFr)
		case schedule.W:
			return c.b * r.blockWFr
		case schedule.SendF, schedule.SendB:
			return r.send * scale
		}
		return 0
	})
	if err != nil {
		return nil, err
	}
	return &Prediction{Schedule: sched.Name, Microbatches: sched.Microbatches, Chunks: v, Split: plan.Split(),
		StepS: tl.StepTime, IdleFrac: tl.IdleFrac, Bubble: tl.Bubble}, nil
}
