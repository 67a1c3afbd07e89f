// The training loop: a model planned onto devices, batches through a schedule, evaluation, checkpoints, the report.

package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"baton/data"
	"baton/internal/fsutil"
	"baton/kernels"
	"baton/model"
	"baton/transformer"
)

// Progress is what the loop reports after every step.
type Progress struct {
	Step, Steps  int
	Loss         float64
	LR           float32
	GradNorm     float64
	TokensPerSec float64
	ValLoss      float64 // NaN unless this step evaluated
}

// Summary is the run's result, written to summary.json.
type Summary struct {
	Preset       string         `json:"model"`
	Config       model.Config   `json:"config"`
	Params       int64          `json:"params"`
	Devices      []string       `json:"devices"`
	Schedule     string         `json:"schedule"`
	Microbatches int            `json:"microbatches"`
	Batch        int            `json:"batch"`
	Context      int            `json:"context"`
	Steps        int            `json:"steps"`
	StartStep    int            `json:"start_step"`
	FirstLoss    float64        `json:"first_loss"`
	LastLoss     float64        `json:"last_loss"`
	ValLoss      *float64       `json:"val_loss"` // null when the run was interrupted before evaluating
	TokensPerSec float64        `json:"tokens_per_sec"`
	Seconds      float64        `json:"seconds"`
	Interrupted  bool           `json:"interrupted"`
	Checkpoint   string         `json:"checkpoint"`
	Data         data.Info      `json:"data"`
	Plan         *model.Plan    `json:"plan"`
	Losses       []float64      `json:"losses"`
	StageCosts   []StageCost    `json:"stage_costs"`         // mean measured action times, for baton plan --replay
	Transfers    []TransferStat `json:"transfers,omitempty"` // the path and bandwidth of each stage boundary (CUDA devices)
	*Report                     // the idle report's fields, bubble_measured and per_device among them, inline
}

// Trainer owns a run: devices, stages, data, schedule and executor.
type Trainer struct {
	cfg     TrainConfig
	devs    []Device
	stages  []*Stage
	plan    *model.Plan
	sched   *Schedule // as generated; the executor runs it lowered
	ds      *data.Dataset
	train   *data.TrainLoader
	val     *data.ValLoader
	ex      *Executor
	start   int // steps already done (resume)
	inputs  []int32
	targets []int32
}

// NewTrainer checks cfg, plans the split, loads data, opens devices and
// builds the stages, initialised or restored from Out's checkpoint. Errors
// in the configuration itself are *ConfigError.
// With Resume and a zero Model, the checkpoint's model is used.
func NewTrainer(cfg TrainConfig) (*Trainer, error) {
	t, ck, err := plan(cfg)
	if err != nil {
		return nil, &ConfigError{err}
	}
	return t.open(ck)
}

// plan checks everything that needs no data or devices: the configuration,
// the checkpoint to resume, the schedule and the split.
func plan(cfg TrainConfig) (*Trainer, *model.Checkpoint, error) {
	var ck *model.Checkpoint
	if cfg.Resume {
		var err error
		if ck, err = model.Load(CheckpointDir(cfg.Out)); err != nil {
			return nil, nil, fmt.Errorf("--resume: %w", err)
		}
		if cfg.Model == (model.Config{}) {
			cfg.Model = ck.Config
		}
		if cfg.Context == 0 {
			cfg.Context = cfg.Model.MaxT
		}
		if ck.Config != cfg.Model {
			return nil, nil, fmt.Errorf("--resume: the checkpoint's model (%s) differs from the one asked for (%s); drop the model flags to use the checkpoint's", ck.Config, cfg.Model)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	names, err := ExpandDevices(cfg.Devices)
	if err != nil {
		return nil, nil, err
	}
	sched, err := GenerateChunks(cfg.Schedule, len(names), cfg.Microbatches, max(cfg.Chunks, 1))
	if err != nil {
		return nil, nil, fmt.Errorf("--schedule: %w", err)
	}
	for _, n := range names {
		if strings.HasPrefix(n, "cuda:") {
			if err := cfg.Model.CheckCUDA(); err != nil {
				return nil, nil, err
			}
			break
		}
	}
	stageDevices := sched.StageDevices(names)
	m := sched.Microbatches
	mbB := cfg.Batch / m
	pl, err := model.Partition(cfg.Model, stageDevices, model.PlanOptions{Split: cfg.Split, LayerMap: cfg.LayerMap, B: mbB, T: cfg.Context, InFlight: maxInt(sched.Stashes())})
	if err != nil {
		return nil, nil, err
	}
	t := &Trainer{cfg: cfg, plan: pl, sched: sched}
	if ck != nil {
		var st TrainState
		if err := json.Unmarshal(ck.State, &st); err != nil {
			return nil, nil, fmt.Errorf("--resume: %s/state.json: %v", CheckpointDir(cfg.Out), err)
		}
		t.start, t.cfg.Seed = st.Step, st.Seed
		if t.start >= cfg.Steps {
			return nil, nil, fmt.Errorf("--resume: the checkpoint is at step %d, already at --steps %d; raise --steps to train further", t.start, cfg.Steps)
		}
	}
	return t, ck, nil
}

// open loads the data, opens the devices and builds the stages.
func (t *Trainer) open(ck *model.Checkpoint) (*Trainer, error) {
	cfg, plan, sched := t.cfg, t.plan, t.sched
	mbB := cfg.Batch / sched.Microbatches
	var err error
	if t.ds, err = data.Load(cfg.Data, cfg.DataLimit); err != nil {
		return nil, err
	}
	if t.train, t.val, err = t.ds.Loaders(cfg.Model.V, cfg.Batch, cfg.Context, t.cfg.Seed); err != nil {
		return nil, err
	}
	if t.devs, err = ParseDevices(cfg.Devices); err != nil {
		return nil, err
	}
	err = guard(func() error { // a device's failure (out of memory) panics inside its Ops
		if t.stages, err = NewStages(t.devs, plan, mbB, cfg.Context); err != nil {
			return err
		}
		if ck != nil {
			if err := scatter(t.stages, ck); err != nil {
				return fmt.Errorf("--resume: %w", err)
			}
			return nil
		}
		for _, st := range t.stages {
			st.Stack.Init(t.cfg.Seed)
		}
		return nil
	})
	if err != nil {
		t.Close()
		return nil, err
	}
	lowered := Lower(sched)
	if err := Validate(lowered); err != nil {
		t.Close()
		return nil, err
	}
	t.ex = &Executor{Sched: lowered, Stages: t.stages, Devices: t.devs, Timeout: cfg.Timeout}
	t.inputs = make([]int32, cfg.Batch*cfg.Context)
	t.targets = make([]int32, cfg.Batch*cfg.Context)
	return t, nil
}

// NewStages builds one stage per planned stage, with zeroed parameters, for
// micro-batches of B×T tokens. Stage s goes on device s mod p, as
// Schedule.DeviceOf says: with more stages than devices (interleaving),
// device d holds stages d, d+p, d+2p, …
func NewStages(devs []Device, plan *model.Plan, B, T int) ([]*Stage, error) {
	var stages []*Stage
	for i, ps := range plan.Stages {
		dev := devs[i%len(devs)]
		stack, err := transformer.NewStack(dev.Ops(), plan.Config, stackSpec(ps), B, T)
		if err != nil {
			return nil, err
		}
		st := &Stage{Index: i, Device: dev, Stack: stack}
		if len(plan.Stages) > 1 && stack.HasTied() {
			st.tiedRecv = dev.Ops().Alloc(plan.Config.V * plan.Config.C)
		}
		stages = append(stages, st)
	}
	return stages, nil
}

func maxInt(xs []int) int {
	m := 1
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// CheckpointDir is where a run directory keeps its checkpoint.
func CheckpointDir(out string) string { return out + "/checkpoint" }

// Config is the run's configuration, with the checkpoint's model on a resume.
func (t *Trainer) Config() TrainConfig { return t.cfg }

// Plan is the run's split of the model over devices.
func (t *Trainer) Plan() *model.Plan { return t.plan }

// Data describes the run's corpus.
func (t *Trainer) Data() data.Info { return t.ds.Describe() }

// StartStep is the number of steps already done before this run (resume).
func (t *Trainer) StartStep() int { return t.start }

// Close releases the devices.
func (t *Trainer) Close() { closeAll(t.devs) }

// microbatches views a host batch (Batch, T) as m micro-batches.
func microbatches(flat []int32, m int) [][]int32 {
	n := len(flat) / m
	out := make([][]int32, m)
	for i := range out {
		out[i] = flat[i*n : (i+1)*n]
	}
	return out
}

// Run trains until cfg.Steps or until ctx is cancelled, then evaluates,
// saves a checkpoint and writes the report, trace and timeline under Out.
// On cancellation the step in flight finishes first and the checkpoint is
// written; the summary says Interrupted.
func (t *Trainer) Run(ctx context.Context, progress func(Progress)) (*Summary, error) {
	cfg := t.cfg
	m := t.ex.Sched.Microbatches
	lr := LRSchedule{Max: cfg.LR, Min: cfg.MinLR, Warmup: cfg.Warmup, End: cfg.Steps}
	sum := &Summary{Preset: cfg.Preset, Config: cfg.Model, Params: cfg.Model.NumParams(), Schedule: t.ex.Sched.Name,
		Microbatches: m, Batch: cfg.Batch, Context: cfg.Context, StartStep: t.start, Data: t.ds.Describe(), Plan: t.plan}
	for _, d := range t.devs {
		sum.Devices = append(sum.Devices, d.Name())
	}
	in := &StepInput{
		Tokens: microbatches(t.inputs, m), Targets: microbatches(t.targets, m),
		DScale:      1 / float32(cfg.Batch*cfg.Context),
		MaxGradNorm: cfg.MaxGradNorm,
		Adam:        kernels.AdamParams{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: cfg.WeightDecay},
	}
	var measured []*StepResult
	keep := 10 // the last steps' records feed the report and trace
	began := time.Now()
	var trainTime time.Duration
	step := t.start
	for step < cfg.Steps {
		if ctx.Err() != nil {
			sum.Interrupted = true
			break
		}
		step++
		if err := t.train.Batch(step-1, t.inputs, t.targets); err != nil {
			return nil, err
		}
		in.AdamStep = step
		in.Adam.LR = lr.At(step)
		t0 := time.Now()
		res, err := t.ex.Run(in)
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", step, err)
		}
		trainTime += time.Since(t0)
		if math.IsNaN(res.Loss) || math.IsInf(res.Loss, 0) {
			return nil, fmt.Errorf("step %d: the loss is %v; lower --lr or set --max-grad-norm (the last checkpoint is unchanged)", step, res.Loss)
		}
		sum.Losses = append(sum.Losses, res.Loss)
		if step > t.start+1 || cfg.Steps-t.start == 1 {
			measured = append(measured, res)
			if len(measured) > keep {
				measured = measured[1:]
			}
		}
		p := Progress{Step: step, Steps: cfg.Steps, Loss: res.Loss, LR: in.Adam.LR, GradNorm: res.GradNorm, ValLoss: math.NaN(),
			TokensPerSec: float64((step-t.start)*cfg.Batch*cfg.Context) / trainTime.Seconds()}
		if cfg.EvalEvery > 0 && step%cfg.EvalEvery == 0 && step < cfg.Steps {
			if p.ValLoss, err = t.evaluate(in); err != nil {
				return nil, err
			}
		}
		if cfg.SaveEvery > 0 && step%cfg.SaveEvery == 0 && step < cfg.Steps && !cfg.SkipCheckpoint {
			if err := t.save(step); err != nil {
				return nil, err
			}
		}
		if progress != nil {
			progress(p)
		}
	}
	sum.Steps = step
	sum.Seconds = time.Since(began).Seconds()
	if len(sum.Losses) > 0 {
		sum.FirstLoss, sum.LastLoss = sum.Losses[0], sum.Losses[len(sum.Losses)-1]
		sum.TokensPerSec = float64(len(sum.Losses)*cfg.Batch*cfg.Context) / trainTime.Seconds()
	}
	if !sum.Interrupted {
		val, err := t.evaluate(in)
		if err != nil {
			return nil, err
		}
		sum.ValLoss = &val
	}
	if !cfg.SkipCheckpoint {
		if err := t.save(step); err != nil {
			return nil, err
		}
		sum.Checkpoint = CheckpointDir(cfg.Out)
	}
	if len(measured) > 0 {
		if err := t.writeReport(sum, measured); err != nil {
			return nil, err
		}
	}
	return sum, t.writeSummary(sum)
}

// evaluate is the mean loss over the first EvalBatches validation batches.
func (t *Trainer) evaluate(in *StepInput) (float64, error) {
	n := min(max(t.cfg.EvalBatches, 1), t.val.Len())
	var total float64
	for i := range n {
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
		ck, err = gather(t.stages, t.cfg.Model, TrainState{Step: step, Seed: t.cfg.Seed, Preset: t.cfg.Preset})
		return err
	})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(t.cfg.Out, 0o755); err != nil {
		return fmt.Errorf("--out: %v", err)
	}
	return model.Save(CheckpointDir(t.cfg.Out), ck)
}

func (t *Trainer) writeSummary(sum *Summary) error {
	raw, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(t.cfg.Out+"/summary.json", append(raw, '\n'))
}

// writeReport builds the idle report from the measured steps and draws them:
// trace.json (every kept step, for Perfetto) and timeline.svg (the last step).
func (t *Trainer) writeReport(sum *Summary, measured []*StepResult) error {
	layers := make([]string, len(t.devs))
	for i, s := range t.plan.Stages {
		d := t.ex.Sched.DeviceOf(i)
		if layers[d] != "" {
			layers[d] += ","
		}
		layers[d] += fmt.Sprintf("%d-%d", s.FirstLayer, s.LastLayer)
	}
	rep, err := BuildReport(t.ex.Sched, t.devs, layers, measured)
	if err != nil {
		return err
	}
	sum.Report = rep
	sum.StageCosts = MeasuredCosts(measured, len(t.stages))
	sum.Transfers = Transfers(t.devs)
	var trace, svg bytes.Buffer
	if err := WriteTrace(&trace, sum.Devices, measured); err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(t.cfg.Out+"/trace.json", trace.Bytes()); err != nil {
		return err
	}
	title := fmt.Sprintf("%s, %d devices, %d micro-batches: bubble %.0f%% measured, %.0f%% analytic",
		rep.Schedule, rep.Devices, rep.Microbatches, rep.BubbleMeasured*100, rep.BubbleAnalytic*100)
	if err := WriteTimeline(&svg, sum.Devices, measured[len(measured)-1], title); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(t.cfg.Out+"/timeline.svg", svg.Bytes())
}
