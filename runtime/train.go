// A run: its configuration checked and planned onto devices, the stages built on them, initialised or restored.

package runtime

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"baton/data"
	"baton/internal/field"
	"baton/internal/fsutil"
	"baton/kernels"
	"baton/model"
	"baton/runtime/device"
	"baton/runtime/schedule"
	"baton/transformer"
)

// Trainer owns a run: devices, stages, data, schedule and executor.
type Trainer struct {
	cfg     TrainConfig
	devs    []device.Device
	stages  []*Stage
	plan    *model.Plan
	sched   *schedule.Schedule // as generated or given; the executor runs it lowered
	ds      *data.Dataset
	train   *data.TrainLoader
	val     *data.ValLoader
	ex      *Executor
	kprof   *kernelProfile // --profile-kernels: the stages' timed Ops (nil: off)
	start   int            // steps already done (resume)
	resumed TrainState     // the checkpoint's state on a resume
	onSplit bool           // a balancing run resumed on the split its balancing left
	// balanceChecked: --balance measured has made its one check, in this
	// start or before it (kept in checkpoints).
	balanceChecked bool
	// evalStopped is the step whose evaluation a signal stopped (0: none),
	// which its checkpoint records (TrainState.EvalPending).
	evalStopped int
	saved       savedState  // the checkpoint this start saved last (zero: none)
	lastEval    evalAt      // the last validation loss this start measured (zero: none)
	sum         *Summary    // the running Run's, whose losses each checkpoint keeps
	outDir      os.FileInfo // the run directory as Run found it (rank 0), to notice it gone
	dataSum     string      // the sha256 of the data's tokens, once computed (tokenSum)
	inputs      []int32
	targets     []int32

	// warnings are for the user: the checkpoint to resume did not load
	// and the previous one is used (model.Checkpoint.Warnings).
	warnings []string
}

// NewTrainer checks cfg, plans the split, loads data, opens devices and
// builds the stages, initialised or restored from Out's checkpoint. Errors
// in the configuration itself are *ConfigError.
// With Resume and a zero Model, the checkpoint's model is used.
func NewTrainer(cfg TrainConfig) (*Trainer, error) {
	t, ck, err := plan(cfg)
	var damaged fileError
	switch {
	case errors.As(err, &damaged):
		return nil, err
	case err != nil:
		return nil, &ConfigError{err}
	}
	return t.open(ck)
}

// plan checks everything that needs no data or devices: the configuration,
// the checkpoint to resume, the schedule and the split.
func plan(cfg TrainConfig) (*Trainer, *model.Checkpoint, error) {
	ck, fromCk, err := startFrom(&cfg, ownTensors(cfg))
	if err != nil {
		return nil, nil, err
	}
	cfg = settled(cfg)
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	sched, err := scheduleOf(cfg)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Devices[0].Kind == device.KindCUDA {
		if err := cfg.Model.CheckCUDA(); err != nil {
			return nil, nil, err
		}
	}
	var st TrainState
	if ck != nil && cfg.Resume {
		if st, err = resumeState(ck, CheckpointDir(cfg.Out)); err != nil {
			return nil, nil, fileError{err}
		}
	}
	pl, onSplit, err := partition(cfg, sched, st)
	if err != nil {
		return nil, nil, err
	}
	if err := checkFits(cfg.Devices, cfg.Group.own(pl), cfg.Precision.String(), cpuExtra(cfg.Model, cmp.Or(cfg.Context, cfg.Model.MaxT), len(cfg.Devices))); err != nil {
		return nil, nil, err
	}
	t := &Trainer{cfg: cfg, plan: pl, sched: sched, onSplit: onSplit}
	if ck != nil && cfg.InitFrom != "" {
		t.warnings = ck.Warnings
		if fromCk {
			t.cfg.Preset, t.cfg.PresetBase = presetOf(cfg.Model)
		}
	}
	if ck != nil && cfg.Resume {
		t.start, t.cfg.Seed, t.warnings, t.resumed = st.Step, st.Seed, ck.Warnings, st
		if fromCk && st.Preset != "" {
			t.cfg.Preset = st.Preset
			if _, ok := model.Presets[st.Preset]; ok {
				t.cfg.PresetBase = st.Preset
			}
		}
		switch {
		case t.start == cfg.Steps && st.EvalPending:
			// A signal stopped the run's final evaluation: this start
			// trains nothing, evaluates and writes the summary.
			t.warnings = append(t.warnings, fmt.Sprintf("the checkpoint is at the run's last step, %d, whose evaluation a signal stopped: training no step, evaluating and writing the summary", t.start))
		case t.start == cfg.Steps && summaryBehind(cfg.Out, t.start):
			// The run ended between its last checkpoint and its summary (a
			// kill, a full disk): this start trains nothing and writes it.
			t.warnings = append(t.warnings, fmt.Sprintf("the checkpoint is at the run's last step, %d, but the run ended before writing its summary.json: training no step, evaluating and writing it", t.start))
		case st.EvalPending && t.start < cfg.Steps:
			t.warnings = append(t.warnings, fmt.Sprintf("the checkpoint at step %d was saved when a signal stopped its evaluation: evaluating it first, for that step's line in %s", t.start, MetricsFile))
		case t.start >= cfg.Steps:
			at := "already at"
			if t.start > cfg.Steps {
				at = "past"
			}
			return nil, nil, field.Errorf("steps", "{resume}: the checkpoint is at step %d, %s {steps} %d; raise {steps} to train further", t.start, at, cfg.Steps)
		}
		if w := lrMoved(cfg, t.start); w != "" {
			t.warnings = append(t.warnings, w)
		}
		if err := cfg.checkResumedBalancing(t.start, onSplit); err != nil {
			return nil, nil, err
		}
		if cfg.balancesLive() && len(st.Split) > 0 && !onSplit {
			was := fmt.Sprintf("%d stages", len(st.Split))
			if st.SplitDevices != nil {
				was = "its devices " + strings.Join(st.SplitDevices, ",")
			}
			t.warnings = append(t.warnings, fmt.Sprintf("the run's balanced split %s is for %s; on %s it starts from the FLOPs split %s and balances anew",
				model.JoinInts(st.Split), was, strings.Join(cfg.deviceNames(), ","), model.JoinInts(pl.Split())))
		}
	}
	return t, ck, nil
}

// settled is cfg with what follows from its other settings: a given
// schedule's name and sizes (a generator's name as it spells it), the
// devices the model fills, and the ids its data takes (read once: every
// plan of the run, its rebalances' too, counts the same mask).
func settled(cfg TrainConfig) TrainConfig {
	cfg.vocab = cfg.dataVocab()
	if s := cfg.Sched; s != nil { // a given schedule says its own name and sizes
		cfg.Schedule, cfg.Microbatches, cfg.Chunks = s.Name, s.Microbatches, s.Chunks
	} else if tr, err := schedule.Lookup(cfg.Schedule); err == nil {
		cfg.Schedule = tr.Name // as the generators spell it (1F1B is 1f1b), for run.json and a resume
	}
	if cfg.FitDevices && cfg.Group == nil {
		cfg.Devices = cfg.Devices[:fitDevices(cfg)]
	}
	return cfg
}

// scheduleOf is the schedule cfg runs: given, or generated.
func scheduleOf(cfg TrainConfig) (*schedule.Schedule, error) {
	if cfg.Sched != nil {
		return cfg.Sched, nil
	}
	if tr, err := schedule.Lookup(cfg.Schedule); err == nil && !tr.Chunked && cfg.Chunks > 1 {
		// Said of chunks, which a configuration file may have set beside a
		// schedule given on the command line.
		return nil, field.Errorf("chunks", "{chunks} %d puts several stages on each device, which {schedule} %s does not (one stage each); give {chunks} 1, or {schedule} interleaved", cfg.Chunks, tr.Name)
	}
	sched, err := schedule.GenerateChunks(cfg.Schedule, cfg.numDevices(), cfg.Microbatches, max(cfg.Chunks, 1))
	if err != nil {
		return nil, scheduleError(err, cfg.Batch)
	}
	return sched, nil
}

// partition splits cfg's model into sched's stages: as the settings say,
// or where a balancing run resumed (st) left it on as many stages, which
// onSplit says.
func partition(cfg TrainConfig, sched *schedule.Schedule, st TrainState) (pl *model.Plan, onSplit bool, err error) {
	onSplit = cfg.balancesLive() && len(st.Split) == sched.Stages && (st.SplitDevices == nil || slices.Equal(st.SplitDevices, cfg.deviceNames()))
	var split []int
	if onSplit {
		split = st.Split
	}
	pl, err = partitionAt(cfg, sched, split)
	return pl, onSplit, err
}

// partitionAt splits cfg's model into sched's stages by split, or where
// it is nil as cfg's --split or --layer-map say, else by FLOPs; the same
// on every rank.
func partitionAt(cfg TrainConfig, sched *schedule.Schedule, split []int) (*model.Plan, error) {
	opts := planOptions(cfg, sched)
	opts.Split, opts.LayerMap = cfg.Split, cfg.LayerMap
	if split != nil {
		opts.Split, opts.LayerMap = split, nil
	}
	return model.Partition(cfg.Model, sched.StageDevices(cfg.deviceNames()), opts)
}

// ownTensors keeps, of a checkpoint that ranks resume or start from, the
// tensors of this rank's stages under the plan that checkpoint gives: a
// rank never holds the whole model. nil (keep all) in one process, and
// where the plan fails: the run's own checks then say why.
func ownTensors(cfg TrainConfig) model.Keep {
	if cfg.Group == nil {
		return nil
	}
	return func(m model.Config, state json.RawMessage) func(string) bool {
		c := cfg
		if c.Model == (model.Config{}) {
			c.Model = m
		}
		c.Context = cmp.Or(c.Context, m.MaxT)
		c = settled(c)
		sched, err := scheduleOf(c)
		if err != nil {
			return nil
		}
		var st TrainState // weights alone (--init-from) have none, even a run's that holds one
		if state != nil && cfg.Resume {
			var err error
			if st, err = resumeState(&model.Checkpoint{State: state}, ""); err != nil {
				return nil
			}
		}
		pl, _, err := partition(c, sched, st)
		if err != nil {
			return nil
		}
		own := map[string]bool{}
		for _, s := range c.Group.own(pl).Stages {
			for _, t := range m.StageTensors(s) {
				own[t.Name] = true
			}
		}
		return func(name string) bool { return own[name] }
	}
}

// lrMoved says how a resume's new --steps (an override of the record's)
// changes the learning rate of its first step, start+1: the cosine ends at
// --steps, so a run cut short drops to the floor at once and one extended
// past its end climbs back. "" where the rate moves by under 1%.
func lrMoved(cfg TrainConfig, start int) string {
	for _, o := range cfg.Overrides {
		was, err := strconv.Atoi(o.From)
		if o.Field != "steps" || err != nil {
			continue
		}
		lr := cfg.lrSchedule()
		now := lr.At(start + 1)
		lr.End = was
		before := lr.At(start + 1)
		if math.Abs(float64(now-before)) > 0.01*float64(before) {
			return fmt.Sprintf("the run's %d steps, not run.json's %d, move the learning rate's cosine, which ends at the last step: step %d trains at %.3g, not %.3g", cfg.Steps, was, start+1, now, before)
		}
	}
	return ""
}

// scheduleError is the refusal of a schedule the generator would not make.
// Interleaving's micro-batch count must also divide the batch, which the
// generator does not know: its suggestion is the nearest count that does.
func scheduleError(err error, batch int) error {
	var ge *schedule.GroupError
	if !errors.As(err, &ge) {
		return field.Errorf("schedule", "{schedule}: %w", err)
	}
	if m := ge.Nearest(batch, func(k int) bool { return batch%k == 0 }); m > 0 {
		return field.Errorf("microbatches", "{schedule} interleaved: %s: use {microbatches} %d, which divides {batch} %d", ge.Rule(), m, batch)
	}
	return field.Errorf("batch", "{schedule} interleaved: %s, and no multiple of %d divides {batch} %d: give a {batch} that is a multiple of %d, or another device count", ge.Rule(), ge.Devices, batch, ge.Devices)
}

// summaryBehind says whether out's summary.json is missing or of a step
// before step: a run that ended before writing it.
func summaryBehind(out string, step int) bool {
	prev := previousSummary(out)
	return prev == nil || prev.Steps < step
}

// fitDevices is how many of cfg's devices the model can fill, one layer
// each at least (the length of Split, or the schedule file's devices, where
// given), so that the default list trains --model tiny (2 layers).
func fitDevices(cfg TrainConfig) int {
	return FitDevices(cfg.Model.L, cfg.Chunks, cfg.Split, cfg.LayerMap, cfg.Sched, len(cfg.Devices)).N
}

// DeviceFit is how many default devices a run keeps, and what decided it
// (By): "schedule-file" (Units rows), "layer-map" or "split" (Units
// stages), or "layers" (Units layers), Units divided by --chunks but for
// a schedule file's rows.
type DeviceFit struct {
	N     int
	By    string
	Units int
}

// FitDevices is how many of n default devices a model of layers blocks
// fills, one stage each at least: a given schedule's rows, or the stages
// of layerMap, else of split, else of the layers, over chunks per device.
func FitDevices(layers, chunks int, split, layerMap []int, sched *schedule.Schedule, n int) DeviceFit {
	f := DeviceFit{By: "layers", Units: layers}
	switch {
	case sched != nil:
		f = DeviceFit{By: "schedule-file", Units: sched.Devices}
	case len(layerMap) > 0: // stages 0..max; a map that skips one is the planner's to refuse
		f = DeviceFit{By: "layer-map", Units: min(slices.Max(layerMap)+1, layers)}
	case len(split) > 0:
		f = DeviceFit{By: "split", Units: len(split)}
	}
	fit := f.Units
	if sched == nil {
		fit /= max(1, chunks)
	}
	f.N = min(max(fit, 1), n)
	return f
}

// planOptions are the memory estimate's settings for cfg run under sched.
func planOptions(cfg TrainConfig, sched *schedule.Schedule) model.PlanOptions {
	return model.PlanOptions{B: cfg.Batch / sched.Microbatches, T: cfg.Context, Stashes: sched.Stashes(),
		Microbatches: sched.Microbatches, SplitBackward: sched.SplitsBackward(),
		Recompute: cfg.Recompute, EagerOptimizer: cfg.OptimizerStep == "eager", Vocab: cfg.vocab}
}

// startFrom loads the checkpoint a run starts from, if any: Out's to
// resume (InitFrom is then only the run's history), or InitFrom's
// weights, keeping what keep chooses. A zero Model becomes the checkpoint's
// (fromCk); a given one must be the checkpoint's.
func startFrom(cfg *TrainConfig, keep model.Keep) (ck *model.Checkpoint, fromCk bool, err error) {
	switch {
	case cfg.Resume:
		dir := CheckpointDir(cfg.Out)
		ck, err = model.LoadResumeKeeping(dir, keep)
		switch {
		case errors.Is(err, model.ErrNoCheckpoint):
			return nil, false, fileError{field.Errorf("resume", "{resume}: %s holds no checkpoint (no %s): the run stopped before its first checkpoint (one every {save-every} steps, and one at its end), or {out} names another run; start it again without {resume}", cfg.Out, dir)}
		case err != nil:
			return nil, false, fileError{field.Errorf("resume", "{resume}: %w", err)}
		}
	case cfg.InitFrom != "":
		if err := NoCheckpointYet("init-from", cfg.InitFrom); err != nil {
			return nil, false, fileError{err}
		}
		// A baton run's weights (its checkpoint.old, with a warning, where
		// an interrupted save left only that) or any GPT-2 directory's; the
		// run starts at step 0 with fresh AdamW moments.
		if ck, err = model.LoadWeightsKeeping(cfg.InitFrom, keep); err != nil {
			return nil, false, fileError{field.Errorf("init-from", "{init-from} %w", err)}
		}
	default:
		return nil, false, nil
	}
	if cfg.Model == (model.Config{}) {
		cfg.Model, fromCk = ck.Config, true
	}
	if cfg.Context == 0 {
		cfg.Context = cfg.Model.MaxT
	}
	longer := ck.Config
	longer.MaxT = cfg.Model.MaxT
	switch {
	case ck.Config == cfg.Model:
	case longer == cfg.Model && cfg.Model.MaxT > ck.Config.MaxT: // the sizes agree but for a context past the positions
		return nil, false, field.Errorf("context", "{context} %d is more than the %d positions (n_positions) of the checkpoint's model; give {context} %d or less", cfg.Model.MaxT, ck.Config.MaxT, ck.Config.MaxT)
	case cfg.Resume:
		return nil, false, field.Errorf("model", "{resume}: the checkpoint's model (%s) differs from the one asked for (%s); drop {layers}, {width}, {heads} and {context} to use the checkpoint's", ck.Config, cfg.Model)
	default:
		return nil, false, field.Errorf("init-from", "{init-from} %s holds the model %s, which differs from the one asked for (%s); drop {model}, {layers}, {width}, {heads} and {context} to use its own", cfg.InitFrom, ck.Config, cfg.Model)
	}
	return ck, fromCk, nil
}

// open loads the data, opens the devices and builds the stages.
func (t *Trainer) open(ck *model.Checkpoint) (*Trainer, error) {
	cfg, plan, sched := t.cfg, t.plan, t.sched
	mbB := cfg.Batch / sched.Microbatches
	var err error
	ckField := "resume"
	if !cfg.Resume {
		ckField = "init-from"
	}
	if t.ds, err = data.Load(cfg.Data, cfg.DataLimit); err != nil {
		return nil, err
	}
	if err := t.sameData(); err != nil {
		return nil, err
	}
	if t.train, t.val, err = t.ds.Loaders(cfg.Model.V, cfg.Batch, cfg.Context, t.cfg.Seed); err != nil {
		return nil, err
	}
	if w := vocabWarning(cfg.Model.V, t.ds); w != "" {
		t.warnings = append(t.warnings, w)
	}
	if w := tokensWarning(ck, t.ds); w != "" {
		t.warnings = append(t.warnings, w)
	}
	if n := t.val.Len(); cfg.EvalBatches > n {
		t.warnings = append(t.warnings, fmt.Sprintf("the validation tokens hold %d batches of %d×%d, fewer than the %d asked for: each evaluation reads those %d", n, cfg.Batch, cfg.Context, cfg.EvalBatches, n))
	}
	t.warnings = append(t.warnings, t.ds.Warnings...)
	if t.devs, err = device.Open(cfg.Devices, device.Options{Precision: cfg.Precision, StochasticRounding: cfg.StochasticRounding, Seed: cfg.Seed}); err != nil {
		var un *device.Unavailable
		if errors.As(err, &un) {
			return nil, &ConfigError{err}
		}
		return nil, err
	}
	all := cfg.Group.place(t.devs)
	err = guard(func() error { // a device's failure (out of memory) panics inside its Ops
		t.kprof = newKernelProfile(cfg.ProfileKernels)
		if t.stages, err = newStages(all, plan, mbB, cfg.Context, t.cfg.vocab, t.kprof.opsOf); err != nil {
			return err
		}
		if ck != nil {
			if err := scatter(t.stages, ck, t.start); err != nil {
				return field.Errorf(ckField, "{"+ckField+"}: %w", err)
			}
			return nil
		}
		for _, st := range t.stages {
			if st != nil {
				st.Stack.Init(t.cfg.Seed)
			}
		}
		return nil
	})
	if err != nil {
		t.Close()
		return nil, err
	}
	lowered := schedule.Lower(sched)
	if err := schedule.Validate(lowered); err != nil {
		t.Close()
		return nil, err
	}
	// Last, so that a run refused for anything else leaves no directory.
	if err := fsutil.ProbeDir(cfg.Out); err != nil {
		t.Close()
		return nil, &ConfigError{field.Errorf("out", "{out} %s: %w; give a directory baton can write to", cfg.Out, err)}
	}
	t.ex = &Executor{Sched: lowered, Stages: t.stages, Devices: all, Timeout: cfg.Timeout, EagerOptimizer: cfg.OptimizerStep == "eager", Group: cfg.Group, CUDAGraphs: cfg.graphsOn()}
	if t.ex.links, err = t.openLinks(); err != nil {
		t.Close()
		return nil, err
	}
	t.inputs = make([]int32, cfg.Batch*cfg.Context)
	t.targets = make([]int32, cfg.Batch*cfg.Context)
	return t, nil
}

// NewStages builds one stage per planned stage, with zeroed parameters, for
// micro-batches of B×T tokens. Stage s goes on device s mod p, as
// Schedule.DeviceOf says: with more stages than devices (interleaving),
// device d holds stages d, d+p, d+2p, … A nil device is another rank's:
// its stages are nil here.
func NewStages(devs []device.Device, plan *model.Plan, B, T int) ([]*Stage, error) {
	return newStages(devs, plan, B, T, 0, device.Device.Ops)
}

// newStages is NewStages with each stack computing on opsOf(its device),
// its head leaving the ids from vocab on out of the softmax (0: none).
// Each stage allocates through Owned Ops of its own, so that a move can
// hand back all it holds; on an error, or a device's panic (out of
// memory), what was made is handed back.
func newStages(devs []device.Device, plan *model.Plan, B, T, vocab int, opsOf func(device.Device) kernels.Ops) ([]*Stage, error) {
	var stages []*Stage
	var mems []*device.Owned
	built := false
	defer func() {
		if !built {
			for _, mem := range mems {
				mem.Free()
			}
		}
	}()
	for i, ps := range plan.Stages {
		dev := devs[i%len(devs)]
		if dev == nil {
			stages = append(stages, nil)
			continue
		}
		mem := device.Own(dev, opsOf(dev))
		mems = append(mems, mem)
		stack, err := transformer.NewStack(mem, plan.Config, stackSpec(ps, plan.Recompute, vocab), B, T)
		if err != nil {
			return nil, err
		}
		st := NewStage(i, dev, stack)
		st.mem = mem
		if len(plan.Stages) > 1 && stack.HasTied() {
			st.tiedRecv = mem.AllocAs(plan.Config.V*plan.Config.C, kernels.Working)
		}
		stages = append(stages, st)
	}
	built = true
	return stages, nil
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

// Close releases the links and the devices, once the workers a failed
// step left running, and a move's copies a rebalance gave up on, have
// ended (Executor.settle, Group.settle, within the grace join gave them);
// past that, they keep them until the process ends.
func (t *Trainer) Close() {
	if t.ex != nil && (!t.ex.settle(t.ex.grace()) || !t.cfg.Group.settle(t.ex.grace())) {
		return // a worker, or a move's copy, still runs on them: the devices go with the process
	}
	if t.ex != nil {
		closeLinks(t.ex.links)
	}
	device.CloseAll(t.devs)
}
