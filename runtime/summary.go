// The run's record: summary.json with the idle report inline, trace.json and timeline.svg, and reading a summary back for a replay.

package runtime

import (
	"baton/data"
	"baton/internal/field"
	"baton/internal/fsutil"
	"baton/internal/words"
	"baton/model"
	"baton/runtime/device"
	"baton/runtime/dist"
	"baton/runtime/report"
	"baton/runtime/schedule"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// SummarySchema is the version of summary.json's layout. 1: losses cover
// the whole run from losses_first_step, across resumes. 2: first_loss and
// last_loss are null where no step has a loss.
const SummarySchema = 2

// Summary is the run's result, written to summary.json.
type Summary struct {
	SchemaVersion int          `json:"schema_version"`
	Version       BuildVersion `json:"version"`
	Preset        string       `json:"model"`
	Config        model.Config `json:"config"`
	Params        int64        `json:"params"`
	Devices       []string     `json:"devices"`
	Precision     string       `json:"precision"`             // fp32, tf32 or bf16 (tf32 and bf16 on cuda: devices only)
	CUDAGraphs    bool         `json:"cuda_graphs,omitempty"` // compute actions ran as replayed CUDA graphs (--cuda-graphs)
	Schedule      string       `json:"schedule"`
	Microbatches  int          `json:"microbatches"`
	Batch         int          `json:"batch"`
	Context       int          `json:"context"`
	Steps         int          `json:"steps"`
	StartStep     int          `json:"start_step"` // the step this process resumed from (0: it began the run)
	FirstLoss     *float64     `json:"first_loss"` // of this process's first step; null where no step has a loss
	LastLoss      *float64     `json:"last_loss"`
	ValLoss       *float64     `json:"val_loss"` // null when the run was interrupted before evaluating
	TokensPerSec  float64      `json:"tokens_per_sec"`
	Seconds       float64      `json:"seconds"`
	Interrupted   bool         `json:"interrupted"`
	Checkpoint    string       `json:"checkpoint"`
	Data          data.Info    `json:"data"`
	Plan          *model.Plan  `json:"plan"`
	Losses        []float64    `json:"losses"` // every step's, from LossesFirstStep to Steps
	// LossesFirstStep is the step of Losses[0]: 1, unless the record of
	// earlier steps was lost (a run killed before it wrote metrics.jsonl).
	LossesFirstStep int                `json:"losses_first_step"`
	StageCosts      []report.StageCost `json:"stage_costs"`           // mean measured action times, for a replay (LoadReplay)
	LayerCosts      []report.LayerCost `json:"layer_costs,omitempty"` // mean measured unit times (--profile-layers, rebalancing runs)
	Roofline        *report.Roofline   `json:"roofline,omitempty"`    // every kernel of a step against what the GPU allows (measured with --profile-kernels)
	Diagnosis       *report.Diagnosis  `json:"diagnosis,omitempty"`   // the idle time in words, with the changes the replay suggests
	Stragglers      []Straggler        `json:"stragglers,omitempty"`  // devices whose compute time per step drifted above their own mean
	Rebalances      []Move             `json:"rebalances,omitempty"`  // the re-splits of a run that balanced itself
	// Balance is how a run that chose its split on measured times did:
	// "measured" (--balance measured) or "auto" (--rebalance auto).
	Balance string `json:"balance,omitempty"`
	// OptimizerRedone counts the steps an eager optimizer undid and redid
	// (the norm clipped, or was not finite), and OptimizerRedoS their time.
	OptimizerRedone int                   `json:"optimizer_redone_steps,omitempty"`
	OptimizerRedoS  float64               `json:"optimizer_redo_s,omitempty"`
	Transfers       []device.TransferStat `json:"transfers,omitempty"` // the path and bandwidth of each stage boundary (CUDA devices, and between ranks)
	// ClockSkewS is how far apart the devices' step origins may lie, the
	// most over the measured steps: 0 on CPU devices (one clock), else
	// what the barrier that aligns them left (StepResult.ClockSkew).
	ClockSkewS float64 `json:"clock_skew_s"`
	// ClockUncertaintyS, in a run of several processes, is how far off the
	// ranks' clocks may be from rank 0's, on which the report places them.
	ClockUncertaintyS float64 `json:"clock_uncertainty_s,omitempty"`
	// ClockOffsetsS is each rank's clock minus rank 0's, as measured at
	// the run's end, by which the report moves each rank's records.
	ClockOffsetsS  []float64 `json:"clock_offsets_s,omitempty"`
	*report.Report           // the idle report's fields, bubble_measured and per_device among them, inline
}

// UnmarshalJSON reads summary.json back whole. The summary's schedule and
// microbatches share their JSON names with the inline report's, so the
// outer fields take the values and the report's would stay empty; they
// are the same values (both are the run's schedule's), copied across.
func (s *Summary) UnmarshalJSON(raw []byte) error {
	type plain Summary // without this method, or decoding would recurse
	if err := json.Unmarshal(raw, (*plain)(s)); err != nil {
		return err
	}
	if s.Report != nil {
		s.Report.Schedule, s.Report.Microbatches = s.Schedule, s.Microbatches
	}
	return nil
}

func (t *Trainer) writeSummary(sum *Summary) error {
	sum.CUDAGraphs = t.ex != nil && t.ex.CUDAGraphs
	raw, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(t.ownDir(), 0o755); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(t.ownDir(), "summary.json"), append(raw, '\n'))
}

// TraceFile and TimelineFile are the run directory's files of the steps
// measured last: their trace (Perfetto's JSON) and the last one drawn.
const (
	TraceFile    = "trace.json"
	TimelineFile = "timeline.svg"
)

// writeReport builds the idle report from the measured steps and draws them:
// trace.json (every kept step, for Perfetto) and timeline.svg (the last step).
func (t *Trainer) writeReport(sum *Summary, measured []*StepResult) error {
	names := t.cfg.deviceNames()
	peaks := map[int]int64{}
	for d, dev := range t.ex.Devices {
		if dev != nil {
			_, peaks[d] = dev.Memory()
		}
	}
	var links []device.TransferStat
	if t.cfg.Group != nil {
		var err error
		if links, err = t.gatherTransfers(); err != nil {
			return err
		}
		if measured, err = t.mergeSteps(measured, peaks, dist.Tag{Kind: msgRecords}, "for the report"); err != nil || !t.lead() {
			return err // a rank other than 0 has sent its part
		}
		sum.ClockUncertaintyS = t.cfg.Group.Uncertainty.Seconds()
		for _, off := range t.cfg.Group.Offsets {
			sum.ClockOffsetsS = append(sum.ClockOffsetsS, off.Seconds())
		}
	}
	devs := make([]report.DeviceInfo, len(names))
	for d := range devs {
		devs[d].Name, devs[d].PeakBytes = names[d], peaks[d]
	}
	for i, s := range t.plan.Stages {
		d := &devs[t.ex.Sched.DeviceOf(i)]
		if d.Layers != "" {
			d.Layers += ","
		}
		d.Layers += model.LayerRange(s.FirstLayer, s.LastLayer)
	}
	steps := make([]*report.Step, len(measured))
	for i, m := range measured {
		steps[i] = &m.Step
		sum.ClockSkewS = max(sum.ClockSkewS, m.ClockSkew.Seconds())
	}
	rep, err := report.Build(t.ex.Sched, devs, steps)
	if err != nil {
		return err
	}
	sum.Report = rep
	sum.Roofline = t.roofline(measured, rep.StepS)
	sum.StageCosts = report.MeasuredCosts(steps, len(t.stages))
	sum.LayerCosts = report.LayerCosts(steps, t.cfg.Model.UnitName)
	if t.cfg.Sched == nil { // the replay prices generated schedules only
		if sum.Diagnosis, err = Diagnose(sum, nil, len(sum.Devices), leastShare(t.gpus())); err != nil {
			return err
		}
	}
	sum.Transfers = append(device.Transfers(t.devs), links...)
	var trace, svg bytes.Buffer
	if err := report.WriteTrace(&trace, sum.Devices, steps); err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(t.cfg.Out, TraceFile), trace.Bytes()); err != nil {
		return err
	}
	title, err := timelineTitle(t.ex.Sched, devs, steps, rep)
	if err != nil {
		return err
	}
	if err := report.WriteTimeline(&svg, sum.Devices, steps[len(steps)-1], title); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(t.cfg.Out, TimelineFile), svg.Bytes())
}

// timelineTitle names the step the timeline draws, the run's last, with
// its own bubble: the report's is the mean over every measured step, which
// the picture of one step would seem to contradict.
func timelineTitle(sched *schedule.Schedule, devs []report.DeviceInfo, steps []*report.Step, rep *report.Report) (string, error) {
	last := steps[len(steps)-1]
	own, err := report.Build(sched, devs, steps[len(steps)-1:])
	if err != nil {
		return "", err
	}
	mean := ""
	if len(steps) > 1 {
		mean = fmt.Sprintf(", mean of %s %.0f%%", words.Count(len(steps), "step"), rep.BubbleMeasured*100)
	}
	return fmt.Sprintf("%s, %s, %s: step %d, bubble %.0f%% (analytic %.0f%%%s)",
		rep.Schedule, words.Count(rep.Devices, "device"), words.Count(rep.Microbatches, "micro-batch"),
		last.Number, own.BubbleMeasured*100, rep.BubbleAnalytic*100, mean), nil
}

// previousSummary is the summary an earlier start of the run in out left,
// or nil.
func previousSummary(out string) *Summary {
	raw, err := fsutil.ReadRegular(filepath.Join(out, "summary.json"))
	if err != nil {
		return nil
	}
	var prev Summary
	if json.Unmarshal(raw, &prev) != nil {
		return nil
	}
	return &prev
}

// priorMoves are the re-splits up to step start, which the resumed run's
// checkpoint holds: from its state st, or where that has none (a checkpoint
// from before it kept them) from prev (nil: none).
func priorMoves(st TrainState, prev *Summary, start int) []Move {
	moves := st.Rebalances
	if moves == nil && prev != nil {
		moves = prev.Rebalances
	}
	return slices.DeleteFunc(slices.Clone(moves), func(m Move) bool { return m.Step > start })
}

// priorLosses are the losses of steps before start, for a resumed run's
// summary: from the checkpoint's state st, the previous summary and the
// metrics log (kept, up to start), as far back as they run without a gap. first is the step of the
// first one.
func priorLosses(st TrainState, prev *Summary, start int, kept []Metric) (losses []float64, first int) {
	byStep := map[int]float64{}
	for i, l := range st.Losses {
		byStep[st.LossesFirstStep+i] = l
	}
	if prev != nil {
		from := prev.StartStep + 1 // before schema 1, losses began at the resume
		if prev.SchemaVersion >= 1 {
			from = max(prev.LossesFirstStep, 1)
		}
		for i, l := range prev.Losses {
			byStep[from+i] = l
		}
	}
	for _, m := range kept {
		byStep[m.Step] = m.Loss
	}
	first = start + 1
	for first > 1 {
		if _, ok := byStep[first-1]; !ok {
			break
		}
		first--
	}
	for s := first; s <= start; s++ {
		losses = append(losses, byStep[s])
	}
	return losses, first
}

// Choice is how the run ran, as a replay prices it.
func (s *Summary) Choice() report.Choice {
	return report.Choice{Schedule: s.Schedule, Devices: len(s.Devices), Microbatches: s.Microbatches,
		Chunks: len(s.Plan.Stages) / len(s.Devices), Split: s.Plan.Split(), Recompute: s.Plan.Recompute}
}

// Diagnose explains a run's measured steps (its summary, with the report
// and measured costs) and prices the changes it suggests with r (nil: the
// run's own replay) on p devices of capacity bytes each (0: the run's
// GPUs' memory, or no limit on CPU).
func Diagnose(sum *Summary, r *report.Replay, p int, capacity int64) (*report.Diagnosis, error) {
	if r == nil {
		var err error
		if r, err = sum.replay(); err != nil {
			return nil, err
		}
	}
	if capacity == 0 {
		capacity = smallestGPU(sum.Devices)
	}
	r.Balanced = sum.Balance != ""
	return report.Diagnose(sum.Report, r, sum.Choice(), report.Space{Devices: p, Capacity: capacity})
}

// smallestGPU is leastShare of the GPUs named in devices (a summary's,
// read where it is replayed: this host's GPUs stand for those of the
// run's other ranks); 0 on CPU devices, or where the driver cannot say.
func smallestGPU(devices []string) int64 {
	var names []device.Name
	for _, d := range devices {
		local, _ := rankLocal(d) // rank1/cuda:0/2#1, a rank's device
		n, err := device.ParseName(local)
		if err != nil {
			return 0
		}
		names = append(names, n)
	}
	return leastShare(gpusOf(names))
}

// leastShare is the least memory a device of on has, its GPU's shared
// evenly among the devices on it (the partitions of one): the search's
// memory limit per device. 0 on CPU devices, or where the driver cannot say.
func leastShare(on []gpuOn) int64 {
	parts := map[string]int64{}
	for _, o := range on {
		if o.GPU == "" || o.Memory == 0 {
			return 0
		}
		parts[o.GPU]++
	}
	var least int64
	for _, o := range on {
		if m := o.Memory / parts[o.GPU]; least == 0 || m < least {
			least = m
		}
	}
	return least
}

// LoadReplay reads a run directory's summary.json.
func LoadReplay(runDir string) (*report.Replay, *Summary, error) {
	raw, err := fsutil.ReadRegular(filepath.Join(runDir, "summary.json"))
	if err != nil {
		return nil, nil, field.Errorf("replay", "{replay}: %v (give a run directory written by baton train)", err)
	}
	var sum Summary
	if err := json.Unmarshal(raw, &sum); err != nil {
		return nil, nil, field.Errorf("replay", "{replay}: %s/summary.json: %v", runDir, err)
	}
	if err := sum.replayable(); err != nil {
		return nil, nil, field.Errorf("replay", "{replay}: %s/summary.json %v; it must come from a completed baton train run", runDir, err)
	}
	r, err := sum.replay()
	return r, &sum, err
}

// replay prices the run's units from its measured costs, its memory in
// its precision.
func (s *Summary) replay() (*report.Replay, error) {
	r, err := report.NewReplay(s.Config, s.Context, s.Batch, s.Microbatches, s.Plan, s.StageCosts, s.LayerCosts)
	if err != nil {
		return nil, err
	}
	r.Precision = s.Precision
	return r, nil
}

// replayable checks what a replay divides by and indexes with (Choice's
// chunks, the search's micro-batch counts), so that a damaged summary is
// an error rather than a panic.
func (s *Summary) replayable() error {
	switch {
	case s.Plan == nil || len(s.StageCosts) == 0:
		return fmt.Errorf("has no measured stage costs")
	case len(s.Devices) == 0:
		return fmt.Errorf("lists no devices")
	case len(s.Plan.Stages) == 0 || len(s.Plan.Stages)%len(s.Devices) != 0:
		return fmt.Errorf("plans %d stages over %d devices; want the same number of stages (chunks) on each device", len(s.Plan.Stages), len(s.Devices))
	case s.Batch < 1 || s.Microbatches < 1 || s.Batch%s.Microbatches != 0:
		return fmt.Errorf("has batch %d in %d micro-batches; want micro-batches that divide the batch", s.Batch, s.Microbatches)
	}
	err := s.Config.Validate()
	if err == nil {
		err = s.Config.CheckContext(s.Context)
	}
	if err != nil {
		return fmt.Errorf("has a model no run could have had (%v)", err)
	}
	return nil
}
