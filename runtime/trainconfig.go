// A training run's configuration and its checks, made before any data is loaded.

package runtime

import (
	"strings"
	"time"

	"baton/data"
	"baton/internal/field"
	"baton/kernels"
	"baton/model"
	"baton/runtime/device"
	"baton/runtime/schedule"
)

// TrainConfig is everything a training run is told.
type TrainConfig struct {
	Preset     string        // name of the preset Model started from ("custom" when overridden)
	PresetBase string        // the preset Model was derived from, also when Preset is "custom"; "" is Preset
	Model      model.Config  // architecture
	Devices    []device.Name // from device.Expand
	// FitDevices: Devices is a default list the user did not choose; keep
	// only as many as the model's layers fill (one each at least), once the
	// model is known (a checkpoint's, for Resume or InitFrom).
	FitDevices bool
	Precision  kernels.Precision
	// StochasticRounding: AdamW rounds bf16 weights' copies stochastically
	// (from Seed) rather than to nearest; BF16 only.
	StochasticRounding bool
	Schedule           string  // naive, gpipe, 1f1b
	Microbatches       int     // per step; must divide Batch
	Chunks             int     // stages per device (interleaved); 0 means 1
	Batch              int     // sequences per step
	Context            int     // tokens per sequence (T ≤ Model.MaxT)
	Steps              int     // total steps of the run, counted from its start
	LR, MinLR          float32 // peak and final learning rate
	Warmup             int     // warm-up steps
	WeightDecay        float32
	MaxGradNorm        float64 // clip the global gradient norm (0: off)
	Seed               uint64
	Data               string // path; "" is the default corpus
	DataLimit          int64  // bytes of text to read
	EvalEvery          int    // steps between validation passes (0: only at the end)
	SaveEvery          int    // steps between checkpoints (0: only at the end)
	EvalBatches        int    // validation batches per pass
	Split              []int  // blocks per stage (overrides the planner)
	LayerMap           []int  // a device index per block
	Timeout            time.Duration
	Out                string // run directory: checkpoint, summary, trace, timeline
	Resume             bool   // continue from Out's checkpoint
	Override           bool   // with Resume: the data's tokens may differ from run.json's (recorded in its overrides)
	InitFrom           string // start from the weights in this directory (a GPT-2 model or a run); with Resume, only recorded
	LogEvery           int    // steps between lines of metrics.jsonl (0 means 1)

	// ProfileLayers times each unit (embedding, block, head) inside every
	// compute action, for summary.json's layer_costs.
	ProfileLayers bool
	// CUDAGraphs is "on", "off" or "auto" ("" too): whether each compute
	// action runs as a replayed CUDA graph (Executor.CUDAGraphs); auto is on
	// where every device is a CUDA device and ProfileKernels is off.
	CUDAGraphs string
	// ProfileKernels times every kernel call between two events of its
	// device, for summary.json's roofline: each kernel's measured time
	// beside the time the GPU allows it.
	ProfileKernels bool
	// Balance is how the split is chosen when none is given: "flops" (the
	// cost model; "" too) or "measured" (the FLOPs split for a warm-up of
	// Rebalance.Warmup steps, then the split balanced on their measured
	// layer times, once).
	Balance   string
	Rebalance Rebalance
	// OptimizerStep is "default" ("" too): every stage steps once the
	// global gradient norm is known; or "eager": each steps as soon as its
	// own gradients are ready and the step's end redoes the steps the norm
	// says had to clip (Executor.EagerOptimizer).
	OptimizerStep string
	// Recompute is what each block's forward leaves for its backward to
	// recompute: less memory per micro-batch in flight, the same results.
	Recompute model.Recompute

	// Command is the command line that started the run, and Overrides the
	// settings it changed against the run's record on a resume: both go
	// into run.json.
	Command   []string
	Overrides []Override

	// SkipCheckpoint writes no checkpoint, not even at the end: for runs that
	// are thrown away (a benchmark's points).
	SkipCheckpoint bool

	// Group, in a run of several processes, is this process's place in it
	// (Join): Devices are then this rank's own, and the schedule runs over
	// every rank's.
	Group *Group

	// Sched, when set, is the schedule to run instead of one generated from
	// Schedule, Microbatches and Chunks, which it then sets: a schedule
	// file's, checked when schedule.ReadCSV read it. It has a list for each
	// of Devices, and micro-batches that divide Batch.
	Sched *schedule.Schedule

	// vocab is how many ids the data's tokens take where the model's
	// vocabulary is larger (GPT-2's tokens in its padded 50,304, or bytes
	// in a GPT-2-sized model): the ids past them pad it, and the head
	// leaves them out of the softmax (transformer.Spec.Vocab); 0 where none
	// do. settled resolves it once.
	vocab int
}

// dataVocab is how many ids the data's tokens take where the model's
// vocabulary is larger, from the data's path alone, so that the plan,
// made before the data is read, counts the head's mask; 0 where as many.
func (c TrainConfig) dataVocab() int {
	if v := data.VocabOf(c.Data); v < c.Model.V {
		return v
	}
	return 0
}

// MaxSteps bounds --steps: the checkpoint's state.json keeps every
// step's loss, some 20 bytes each, and model.LoadResume reads a state of
// up to 512 MB. Ten million steps of GPT-2's batch of 0.5 M tokens would
// be 5·10¹² tokens, far past any run baton is for.
const MaxSteps = 10_000_000

// Validate checks the run's settings before any work; its error is a
// *field.Error naming the field to fix.
func (c *TrainConfig) Validate() error {
	if err := c.Model.Validate(); err != nil {
		return err
	}
	if len(c.Devices) == 0 {
		return field.Errorf("devices", "{devices} is empty; give e.g. cpu:0,cpu:1 or cuda:0")
	}
	if err := c.Model.CheckContext(c.Context); err != nil {
		return err
	}
	if err := c.checkPrecision(); err != nil {
		return err
	}
	if err := c.checkCUDAGraphs(); err != nil {
		return err
	}
	if c.Steps < 1 {
		return field.Errorf("steps", "{steps} is %d; it must be at least 1", c.Steps)
	}
	if c.Steps > MaxSteps {
		return field.Errorf("steps", "{steps} is %d, more than %d: every step's loss is kept in the checkpoint, which would grow too large to resume from; to train until you stop the run, give {steps} it will not reach, such as 1000000", c.Steps, MaxSteps)
	}
	if c.Batch < 1 {
		return field.Errorf("batch", "{batch} is %d; it must be at least 1", c.Batch)
	}
	if c.Sched != nil {
		if err := c.checkSched(); err != nil {
			return err
		}
	}
	if c.Microbatches < 1 {
		return field.Errorf("microbatches", "{microbatches} is %d; it must be at least 1", c.Microbatches)
	}
	if c.Batch%c.Microbatches != 0 {
		return field.Errorf("microbatches", "{microbatches} %d does not divide {batch} %d; choose a divisor of %d (or change {batch})", c.Microbatches, c.Batch, c.Batch)
	}
	if err := c.validateOptimizer(); err != nil {
		return err
	}
	if err := c.validateCounts(); err != nil {
		return err
	}
	if c.LogEvery < 0 {
		return field.Errorf("log-every", "{log-every} is %d; give the steps between lines of metrics.jsonl, at least 1", c.LogEvery)
	}
	if c.Timeout < 0 {
		return field.Errorf("timeout", "{timeout} is %v; give a positive duration such as 5m, or 0 to wait without limit", c.Timeout)
	}
	if c.Sched == nil {
		if _, err := schedule.Generate(c.Schedule, 1, 1); err != nil {
			return field.Errorf("schedule", "{schedule}: %w", err)
		}
	}
	if _, err := ParseOptimizerStep(c.OptimizerStep); err != nil {
		return err
	}
	if c.ProfileKernels && c.balancesLive() {
		return field.Errorf("profile-kernels", "{profile-kernels} times the kernels of the stages the run starts with, and {balance} measured or {rebalance} auto builds new ones; drop one of them")
	}
	return c.validateBalance()
}

// checkSched checks a given schedule against the devices and the batch.
func (c *TrainConfig) checkSched() error {
	s, file := c.Sched, strings.TrimPrefix(c.Sched.Name, schedule.FilePrefix)
	if s.Devices != c.numDevices() {
		return field.Errorf("schedule-file", "{schedule-file} %s has %d rows, one per device, but {devices} names %d; give as many devices as the file has rows",
			file, s.Devices, c.numDevices())
	}
	if c.Batch%s.Microbatches != 0 {
		return field.Errorf("schedule-file", "{schedule-file} %s has %d micro-batches, which do not divide {batch} %d; give a {batch} that is a multiple of %d",
			file, s.Microbatches, c.Batch, s.Microbatches)
	}
	if L := c.Model.L; L > 0 && s.Stages > L { // the planner's advice, fewer chunks, cannot go beside a file
		return field.Errorf("schedule-file", "{schedule-file} %s has %d stages (%d chunks on each of its %d rows) but the model has only %d layers: every stage needs at least one layer; give a file with at most %d stages, or more {layers}",
			file, s.Stages, s.Chunks, s.Devices, L, L)
	}
	return nil
}

// numDevices is how many devices the schedule runs on: every rank's.
func (c *TrainConfig) numDevices() int {
	if c.Group != nil {
		return len(c.Group.Ranks)
	}
	return len(c.Devices)
}

// deviceNames names the devices the schedule runs on: every rank's.
func (c *TrainConfig) deviceNames() []string {
	if c.Group != nil {
		return c.Group.Names
	}
	return device.Strings(c.Devices)
}

// ConfigError is a run configuration that cannot work (settings, devices,
// split, a checkpoint that does not fit): found before any data is loaded.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// fileError is a checkpoint a run starts from that is missing or damaged:
// the file is at fault, not the configuration, so NewTrainer does not make
// it a *ConfigError (the CLI exits 1 for it, as for missing or damaged data).
type fileError struct{ error }

func (e fileError) Unwrap() error { return e.error }

// ParseOptimizerStep says whether step, an {optimizer-step} (default, or
// "" for it, or eager), steps each stage eagerly; another is an error.
func ParseOptimizerStep(step string) (eager bool, err error) {
	switch step {
	case "", "default":
		return false, nil
	case "eager":
		return true, nil
	}
	return false, field.Errorf("optimizer-step", "{optimizer-step} %q is not one of default, eager", step)
}
