// baton train: flags → runtime.TrainConfig → a run directory with checkpoint, summary, trace and timeline.

package main

import (
	"baton/internal/words"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"baton/data"
	"baton/internal/runlock"
	"baton/kernels"
	"baton/model"
	"baton/runtime"
	"baton/runtime/device"
	"baton/runtime/dist"
	"baton/runtime/schedule"
)

type trainFlags struct {
	modelFlags
	devices, schedule, split, lmap string
	scheduleFile                   string
	microbatches, batch, steps     int
	chunks                         int
	lr, minLR, weightDecay         float64
	warmup                         int
	maxGradNorm                    float64
	seed                           uint64
	data                           string
	dataLimit                      int64
	evalEvery, evalBatches         int
	saveEvery                      int
	out                            string
	resume, overwrite, quiet       bool
	initFrom                       string
	presetGiven                    bool // --model was given (or set by --config or run.json)
	configFile                     string
	override                       bool
	logEvery                       int
	cpuprofile                     string
	timeout                        time.Duration
	precision, bf16Rounding        string
	profileLayers, profileKernels  bool
	cudaGraphs                     string
	balance, rebalance             string
	rebalanceWarmup                int
	rebalanceEvery                 int
	rebalanceGain                  float64
	optimizerStep, recompute       string
	notes                          []string        // what settle did not take from run.json, for the user
	record                         *runtime.Record // the run.json a resume read
}

func trainCmd() *cobra.Command {
	var f trainFlags
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a model on CPU virtual devices or GPUs and report each device's idle time",
		Example: `  baton train                                   # small model, 4 virtual CPU devices, 1f1b
  baton train --devices cpu:0 --steps 300       # one device
  baton train --schedule naive --devices cpu:0..3
  baton train --resume --out runs/mine --steps 600   # run.json gives every other setting
  baton train --config runs/mine/run.json --out runs/again --lr 3e-3`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runTrain(cmd, &f) },
	}
	fl := cmd.Flags()
	f.modelFlags.add(fl)
	fl.Lookup("context").Usage += "; with --init-from or --resume, one below the weights' trains their model on shorter sequences"
	fl.StringVar(&f.devices, "devices", "cpu:0,cpu:1,cpu:2,cpu:3", "devices, one stage each: cpu:0,cpu:1 or cpu:0..3 (cpu:1~2: one twice as slow); cuda:0 or cuda:0/4 in the cuda build (left out: cut to the model's layers; one device per rank under baton launch)")
	fl.StringVar(&f.schedule, "schedule", "1f1b", "pipeline schedule: "+strings.Join(schedule.ScheduleNames, ", "))
	fl.StringVar(&f.scheduleFile, "schedule-file", "", "run the schedule in this CSV file, one row of actions per device (written by baton schedule --out; see docs/schedule-files.md)")
	fl.IntVar(&f.microbatches, "microbatches", 4, "micro-batches per step (must divide --batch; naive always uses 1)")
	fl.IntVar(&f.chunks, "chunks", 1, "stages per device, for --schedule interleaved (device d holds stages d, d+p, …)")
	fl.StringVar(&f.split, "split", "", "decoder blocks per stage, e.g. 2,2,2,2 (default: balanced by a cost model)")
	fl.StringVar(&f.lmap, "layer-map", "", "stage index of each block (a device's with --chunks 1), e.g. 0,0,1,1 (must be contiguous)")
	fl.IntVar(&f.batch, "batch", 8, "sequences per step")
	fl.IntVar(&f.steps, "steps", 300, "steps of the whole run, at most 10,000,000 (a resumed run stops where an uninterrupted one would)")
	fl.Float64Var(&f.lr, "lr", 1e-3, "peak learning rate")
	fl.Float64Var(&f.minLR, "min-lr", 1e-4, "learning rate at the end of the cosine decay")
	fl.IntVar(&f.warmup, "warmup", 30, "linear warm-up steps")
	fl.Float64Var(&f.weightDecay, "weight-decay", 0.1, "AdamW weight decay of the matrices")
	fl.Float64Var(&f.maxGradNorm, "max-grad-norm", 1.0, "clip the global gradient norm (0: off)")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the initial weights and of the batch order")
	fl.StringVar(&f.data, "data", "", "text file, directory of text, or llm.c .bin shards (default: the Go standard library sources)")
	fl.Int64Var(&f.dataLimit, "data-limit", data.DefaultTextLimit, "bytes of text to read at most (0: all of it; llm.c shards are read whole)")
	fl.IntVar(&f.evalEvery, "eval-every", 100, "steps between validation passes (0: only at the end)")
	fl.IntVar(&f.evalBatches, "eval-batches", 8, "validation batches per pass (at most what the validation tokens hold)")
	fl.IntVar(&f.saveEvery, "save-every", 100, "steps between checkpoints (0: only at the end)")
	fl.StringVar(&f.out, "out", "", "run directory (default: runs/<date-time>)")
	fl.BoolVar(&f.resume, "resume", false, "continue the run in --out from its checkpoint")
	fl.StringVar(&f.initFrom, "init-from", "", "start from the weights in this directory: a Hugging Face GPT-2 model (config.json and model.safetensors, or its shards) or a baton run; step 0, fresh optimizer, the model its config.json says")
	fl.StringVar(&f.configFile, "config", "", "read settings from this JSON or TOML file (a run.json too); flags given override it")
	fl.BoolVar(&f.override, "override", false, "with --resume: let given flags change run.json's data, batch, micro-batches, schedule or learning-rate settings, and the data file's tokens differ from the run's (recorded in run.json); or resume a run directory without run.json on the flags given")
	fl.IntVar(&f.logEvery, "log-every", 1, "steps between lines of metrics.jsonl in --out")
	fl.BoolVar(&f.overwrite, "overwrite", false, "start over in an --out that already holds a checkpoint")
	fl.BoolVar(&f.quiet, "quiet", false, "no progress bar, plan or report table (warnings, errors and notices such as the devices chosen still print)")
	fl.StringVar(&f.cpuprofile, "cpuprofile", "", "write a Go CPU profile of the run to this file (go tool pprof); each rank of several writes its own, prof.rank1.out for prof.out")
	fl.DurationVar(&f.timeout, "timeout", 5*time.Minute, "fail a step when a device has waited this long on a neighbour while no device progressed; time the process spent stopped (SIGSTOP, a debugger) does not count (0: no limit)")
	fl.StringVar(&f.precision, "precision", "fp32", "precision of cuda: devices: fp32, tf32 (tensor-core matmuls) or bf16 (bfloat16 activations, gradients and matmuls, float32 masters); cpu: devices compute fp32 and refuse tf32 and bf16")
	fl.BoolVar(&f.profileLayers, "profile-layers", false, "time every layer (embedding, each block, head) inside each forward and backward, for summary.json's layer_costs")
	fl.StringVar(&f.cudaGraphs, "cuda-graphs", "auto", "run each stage's forward and backward actions as CUDA graphs, captured once per stash and replayed (no per-kernel launch cost): on, off, or auto (on where every device is cuda: and nothing times kernels or layers: --profile-kernels, --profile-layers, --balance measured, --rebalance auto)")
	fl.BoolVar(&f.profileKernels, "profile-kernels", false, "time every kernel call with the device's events, for summary.json's roofline: each kernel's measured time beside the time the GPU allows it")
	fl.StringVar(&f.balance, "balance", "flops", "how the split is chosen without --split: flops (a cost model), or measured (a first step and --rebalance-warmup measured steps on the FLOPs split, then the split balanced on their measured layer times; --steps must leave a step after that)")
	fl.StringVar(&f.rebalance, "rebalance", "off", "auto: check the split on measured layer times after a first step and --rebalance-warmup measured steps, then every --rebalance-every steps, and re-split between two steps when it predicts --rebalance-gain")
	fl.IntVar(&f.rebalanceWarmup, "rebalance-warmup", 3, "measured steps before a balance check")
	fl.IntVar(&f.rebalanceEvery, "rebalance-every", 50, "steps between balance checks (--rebalance auto)")
	fl.Float64Var(&f.rebalanceGain, "rebalance-gain", 0.05, "with --rebalance auto: the predicted gain a re-split needs (a fraction of the step time; --balance measured alone re-splits at any gain)")
	fl.StringVar(&f.bf16Rounding, "bf16-rounding", "nearest", "with --precision bf16: how AdamW rounds each weight's bf16 copy from its float32 master: nearest (ties to even), or stochastic (unbiased on average; deterministic from --seed)")
	fl.StringVar(&f.recompute, "recompute", "none", "what each block's forward leaves for its backward to recompute: none, gelu (saves 4C floats per token per block, costs a GELU), block (keeps only the block's output; costs about two thirds of a forward again)")
	fl.StringVar(&f.optimizerStep, "optimizer-step", "default", "default: every stage waits for the global gradient norm; eager: each steps as soon as its gradients are ready, and steps the norm says had to clip are undone and redone (same results, 12 more bytes per parameter)")
	return cmd
}

// config turns flags into a run configuration, or an error naming the flag.
func (f *trainFlags) config() (runtime.TrainConfig, error) {
	weights := f.initFrom // the model's directory, on a new run from weights
	if f.resume {
		weights = f.out
	}
	mc, name, err := f.model()
	base := f.preset
	context := mc.MaxT
	if weights != "" {
		wc, werr := model.WeightsConfig(weights)
		if !f.presetGiven {
			// The weights' model, which the sizes given must agree with:
			// the default preset's other sizes are no part of it. Its
			// context is --context, else its own (0: the trainer takes
			// the weights').
			mc, name, base, err = f.onWeights(wc, werr), "custom", "", nil
			context = f.context
		}
		if werr == nil && f.trainsShorter(wc) && mc != (model.Config{}) {
			mc.MaxT, context = wc.MaxT, f.context // a preset's, given: its model at --context
		}
	}
	if err != nil {
		return runtime.TrainConfig{}, err
	}
	if err := checkCounts(chunksCount(f.chunks)); err != nil {
		return runtime.TrainConfig{}, err
	}
	split, err := model.ParseInts("split", f.split)
	if err != nil {
		return runtime.TrainConfig{}, err
	}
	lmap, err := model.ParseInts("layer-map", f.lmap)
	if err != nil {
		return runtime.TrainConfig{}, err
	}
	devs, err := device.Expand(f.devices)
	if err != nil {
		return runtime.TrainConfig{}, err
	}
	prec, err := parsePrecision(f.precision)
	if err != nil {
		return runtime.TrainConfig{}, err
	}
	// The runtime reads "" as the default; typed, it is a mistake.
	switch {
	case f.balance == "":
		return runtime.TrainConfig{}, fmt.Errorf("--balance is empty; give flops or measured")
	case f.recompute == "":
		return runtime.TrainConfig{}, fmt.Errorf("--recompute is empty; give none, gelu or block")
	}
	recompute, err := model.ParseRecompute(f.recompute)
	if err != nil {
		return runtime.TrainConfig{}, err
	}
	if f.bf16Rounding != "nearest" && f.bf16Rounding != "stochastic" {
		return runtime.TrainConfig{}, fmt.Errorf("--bf16-rounding %q: want nearest or stochastic", f.bf16Rounding)
	}
	if f.logEvery < 1 {
		return runtime.TrainConfig{}, fmt.Errorf("--log-every is %d; give the steps between lines of metrics.jsonl, at least 1", f.logEvery)
	}
	if f.rebalanceWarmup < 1 || f.rebalanceEvery < 1 {
		return runtime.TrainConfig{}, fmt.Errorf("--rebalance-warmup is %d and --rebalance-every %d; give each at least 1 step", f.rebalanceWarmup, f.rebalanceEvery)
	}
	if !(f.rebalanceGain > 0 && f.rebalanceGain < 1) { // 0 would be the runtime's default, 0.05, not "any gain"
		return runtime.TrainConfig{}, fmt.Errorf("--rebalance-gain is %g; give the predicted gain a move needs as a fraction above 0 and below 1, e.g. 0.05", f.rebalanceGain)
	}
	if f.cudaGraphs == "" { // the flag's default is auto: only given so, empty
		return runtime.TrainConfig{}, fmt.Errorf("--cuda-graphs is empty; give on, off or auto")
	}
	out := f.out
	if out == "" && f.fl != nil && f.fl.Changed("out") {
		return runtime.TrainConfig{}, fmt.Errorf("--out is empty; give the run directory, or leave --out out for runs/<date-time>")
	}
	if out == "" {
		if f.resume {
			return runtime.TrainConfig{}, fmt.Errorf("--resume needs --out, the run directory to continue")
		}
		out = "runs/" + time.Now().Format("2006-01-02T150405")
	}
	cfg := runtime.TrainConfig{
		Preset: name, Model: mc, Devices: devs, Precision: prec, StochasticRounding: f.bf16Rounding == "stochastic", Schedule: f.schedule, Microbatches: f.microbatches, Chunks: f.chunks,
		Batch: f.batch, Context: context, Steps: f.steps, LR: float32(f.lr), MinLR: float32(f.minLR),
		Warmup: f.warmup, WeightDecay: float32(f.weightDecay), MaxGradNorm: f.maxGradNorm, Seed: f.seed,
		Data: f.data, DataLimit: f.dataLimit, EvalEvery: f.evalEvery, EvalBatches: f.evalBatches, SaveEvery: f.saveEvery,
		Split: split, LayerMap: lmap, Timeout: f.timeout, Out: out, Resume: f.resume, Override: f.override, InitFrom: f.initFrom,
		PresetBase: base, LogEvery: f.logEvery, Command: append([]string{"baton"}, os.Args[1:]...),
		ProfileLayers: f.profileLayers, ProfileKernels: f.profileKernels, CUDAGraphs: f.cudaGraphs, Balance: f.balance, OptimizerStep: f.optimizerStep, Recompute: recompute,
		Rebalance: runtime.Rebalance{Mode: f.rebalance, Warmup: f.rebalanceWarmup, Every: f.rebalanceEvery, MinGain: f.rebalanceGain},
	}
	if err := checkOutputs(
		[]pathFlag{{"--out", out, true}, {"--cpuprofile", f.cpuprofile, false}},
		[]pathFlag{{"--data", f.data, isDir(f.data)}, {"--schedule-file", f.scheduleFile, false}, {"--init-from", f.initFrom, true}},
	); err != nil {
		return cfg, err
	}
	if f.resume {
		if name == f.preset {
			cfg.Model, cfg.Context = model.Config{}, 0 // the checkpoint's
		}
		return cfg, nil
	}
	if _, err := os.Stat(runtime.CheckpointDir(out)); err == nil && !f.overwrite {
		return cfg, fmt.Errorf("--out %s already holds a checkpoint; pass --resume to continue it or --overwrite to start over", out)
	}
	return cfg, nil // runtime.NewTrainer validates, reporting a *runtime.ConfigError
}

func runTrain(cmd *cobra.Command, f *trainFlags) (err error) {
	fl := cmd.Flags()
	cfg, env, err := trainConfig(cmd, f)
	if err != nil {
		return err
	}
	if err := probeFileDir("--cpuprofile", rankPath(f.cpuprofile, env)); err != nil {
		return err
	}
	lock, err := lockRank(cfg.Out, env)
	if err != nil {
		return err
	}
	defer lock.Release()
	started := onSignalWhileStarting(func() { lock.Release() })
	con := &console{w: os.Stderr}
	log := slog.New(slog.NewTextHandler(con, nil))
	watchLauncher() // a rank of baton launch, even its only one, stops when the launcher is gone
	switch {
	case env.WorldSize > 1:
		group, err := joinRanks(fl, &cfg, env)
		if err != nil {
			return err
		}
		defer group.Close()
		f.quiet = f.quiet || env.Rank != 0 // rank 0 speaks for the run
	default:
		cfg.FitDevices = !fl.Changed("devices")
	}
	tr, err := runtime.NewTrainer(cfg)
	if err != nil {
		return err
	}
	defer tr.Close()
	warnAtStart(log, f, fl, cfg.Devices, tr)
	cfg = tr.Config()
	out := cmd.OutOrStdout()
	if !f.quiet {
		fmt.Fprintf(out, "model:  %s (%s), %.2fM parameters\n%s\n", cfg.Preset, cfg.Model, float64(cfg.Model.NumParams())/1e6, tr.Data())
		fmt.Fprint(out, tr.Plan())
	}

	ctx, sig, release := onStopSignal(log, "finishing the current step and saving a checkpoint", func() string { return checkpointLeft(cfg.Out) })
	defer release()
	started()

	if f.cpuprofile != "" {
		stopProfile, perr := startProfile(rankPath(f.cpuprofile, env))
		if perr != nil {
			return perr
		}
		// A profile not written fails the run, whatever else it returns.
		defer func() { err = errors.Join(err, stopProfile()) }()
	}
	progress := newProgress(con, term.IsTerminal(int(os.Stderr.Fd())), f.quiet, cfg.Steps, tr.StartStep(), log)
	sum, err := tr.Run(ctx, progress.update)
	release() // closing the trainer and the ranks' links is the ending
	progress.finish()
	if err != nil {
		return err
	}
	if !f.quiet {
		printSummary(out, sum, cfg.Out)
	}
	return ending(log, sum, sig(), cfg.Out)
}

// trainConfig is the run that train's flags, config file, schedule file
// and launcher's environment ask for, checked; flags' errors come before
// the environment's.
func trainConfig(cmd *cobra.Command, f *trainFlags) (runtime.TrainConfig, dist.Env, error) {
	fl := cmd.Flags()
	var none runtime.TrainConfig
	if f.resume && fl.Changed("init-from") {
		return none, dist.Env{}, usage(fmt.Errorf("--init-from starts a new run from a model's weights and --resume continues a run; give one of them"))
	}
	if f.resume && f.overwrite {
		return none, dist.Env{}, usage(fmt.Errorf("--overwrite starts the run in --out over and --resume continues it; give one of them"))
	}
	// Read once; a bad environment is reported after the flags' errors.
	env, envErr := dist.EnvFrom(os.Getenv)
	typed := balancingFlagsTyped(fl) // before run.json or --config sets them all
	world := 1
	if envErr == nil {
		world = max(env.WorldSize, 1)
	}
	overrides, err := f.settle(fl, world)
	if err != nil {
		return none, env, err
	}
	f.notes = append(f.notes, f.unusedBalancing(typed)...)
	f.presetGiven = fl.Changed("model")
	cfg, err := f.config()
	if err != nil {
		return none, env, usage(err)
	}
	cfg.Overrides = overrides
	if f.scheduleFile != "" {
		if cfg.Sched, err = readScheduleFile(cmd, f.scheduleFile); err != nil {
			return none, env, err
		}
		o, err := f.fileMicrobatches(cfg.Sched.Microbatches)
		if err != nil {
			return none, env, usage(err)
		}
		if o != nil {
			cfg.Overrides = append(cfg.Overrides, *o)
		}
	}
	if envErr != nil {
		return none, env, usage(envErr)
	}
	return cfg, env, nil
}

// balancingFlagsTyped are the flags that tune balancing given on the
// command line (a run.json or --config file sets them all).
func balancingFlagsTyped(fl *pflag.FlagSet) []string {
	var typed []string
	for _, k := range []string{"rebalance-warmup", "rebalance-every", "rebalance-gain"} {
		if fl.Changed(k) {
			typed = append(typed, k)
		}
	}
	return typed
}

// unusedBalancing says which of the typed flags that tune balancing the
// run will not use: --rebalance-every and --rebalance-gain act with
// --rebalance auto only, --rebalance-warmup with it or --balance measured.
func (f *trainFlags) unusedBalancing(typed []string) []string {
	var notes []string
	for _, k := range typed {
		switch {
		case f.rebalance == "auto":
		case k == "rebalance-warmup" && f.balance == "measured":
		case k == "rebalance-warmup":
			notes = append(notes, "--rebalance-warmup is not used: it acts with --rebalance auto or --balance measured")
		default:
			notes = append(notes, fmt.Sprintf("--%s is not used: it acts with --rebalance auto", k))
		}
	}
	return notes
}

// warnAtStart says what of the flags the run will not use or has changed:
// even with --quiet, since it says what is lost.
func warnAtStart(log *slog.Logger, f *trainFlags, fl *pflag.FlagSet, asked []device.Name, tr *runtime.Trainer) {
	noteFittedDevices(log, asked, tr.Config())
	for _, n := range f.notes {
		log.Warn(n)
	}
	if naiveIgnores(fl, f.schedule, f.microbatches) && f.scheduleFile == "" {
		log.Warn(naiveNote(f.microbatches))
	}
	if n := unchunkedNote(f.schedule, f.chunks); n != "" && f.scheduleFile == "" {
		log.Warn(n)
	}
	if f.dataLimit != data.DefaultTextLimit && tr.Data().Format == data.Shards {
		log.Warn(fmt.Sprintf("--data-limit %d limits text only: the llm.c shards of %s are read whole", f.dataLimit, tr.Data().Source))
	}
	for _, w := range tr.Warnings() {
		log.Warn(w)
	}
}

// noteFittedDevices says which of the default devices a model too shallow
// for all of them trains on (runtime.TrainConfig.FitDevices): devices the
// user lists are never dropped, and too many of them stays an error saying so.
func noteFittedDevices(log *slog.Logger, asked []device.Name, cfg runtime.TrainConfig) {
	if len(cfg.Devices) == len(asked) {
		return
	}
	names := make([]string, len(cfg.Devices))
	for i, d := range cfg.Devices {
		names[i] = d.String()
	}
	log.Info(fmt.Sprintf("%s: training on %d of the default devices, %s (--devices chooses)",
		fitReason("model "+cfg.Preset, runtime.FitDevices(cfg.Model.L, cfg.Chunks, cfg.Split, cfg.LayerMap, cfg.Sched, len(asked)), cfg.Chunks, cfg.Sched), len(names), strings.Join(names, ",")))
}

// fitReason words what set the number of default devices a run keeps
// (runtime.FitDevices): a schedule file's rows, --layer-map's or --split's
// stages, or the model's layers, over --chunks where a device holds several.
func fitReason(model string, fit runtime.DeviceFit, chunks int, sched *schedule.Schedule) string {
	over := ""
	if chunks > 1 {
		over = fmt.Sprintf(" over --chunks %d", chunks)
	}
	switch fit.By {
	case "schedule-file":
		return fmt.Sprintf("--schedule-file %s has %s", strings.TrimPrefix(sched.Name, schedule.FilePrefix), words.Count(fit.Units, "row"))
	case "layer-map":
		return fmt.Sprintf("--layer-map names %d stages%s", fit.Units, over)
	case "split":
		return fmt.Sprintf("--split has %d stages%s", fit.Units, over)
	}
	return fmt.Sprintf("%s has %s%s", model, words.Count(fit.Units, "layer"), over)
}

// naiveNote says that naive does not use the micro-batches m given.
func naiveNote(m int) string {
	return fmt.Sprintf("--schedule naive runs the whole batch as one micro-batch: --microbatches %d is not used", m)
}

// noteNaive writes naiveNote to cmd's stderr where --microbatches was
// given with naive (plan, schedule).
func noteNaive(cmd *cobra.Command, schedule string, m int) {
	if naiveIgnores(cmd.Flags(), schedule, m) {
		fmt.Fprintln(cmd.ErrOrStderr(), "baton:", naiveNote(m))
	}
}

// unchunkedNote says that schedule, one that interleaves chunks, given one
// chunk per device, runs as 1f1b does; "" for any other.
func unchunkedNote(name string, chunks int) string {
	if tr, err := schedule.Lookup(name); err != nil || !tr.Chunked || chunks > 1 {
		return ""
	}
	return fmt.Sprintf("--schedule %s with --chunks %d gives each device one stage, as 1f1b does: give --chunks 2 or more to interleave", name, chunks)
}

// naiveIgnores says whether --microbatches m, given, goes unused by the schedule.
func naiveIgnores(fl *pflag.FlagSet, schedule string, m int) bool {
	return schedule == "naive" && fl.Changed("microbatches") && m != 1
}

// lockOut locks the run directory for the run's life, before anything is
// written there: a second run in it is refused at once (exit status 1, the
// directory being busy, not the flags wrong), naming the first one's pid.
func lockOut(dir string) (*runlock.Lock, error) {
	l, err := runlock.Acquire(dir)
	var busy *runlock.BusyError
	switch {
	case errors.As(err, &busy):
		return nil, fmt.Errorf("--out %w; wait for that run to end or choose another --out", busy)
	case err != nil:
		return nil, usage(fmt.Errorf("--out %s: %w; give a directory baton can write to", dir, err))
	}
	return l, nil
}

// parsePrecision parses --precision's value.
func parsePrecision(s string) (kernels.Precision, error) {
	p, err := kernels.ParsePrecision(s)
	if err != nil {
		return 0, fmt.Errorf("--%v", err)
	}
	return p, nil
}

// printSummary writes what a finished run did: losses, throughput, the idle
// report, the transfers and the files it wrote under dir.
func printSummary(out io.Writer, sum *runtime.Summary, dir string) {
	val := "not measured (interrupted)"
	if sum.ValLoss != nil {
		val = fmt.Sprintf("%.4f", *sum.ValLoss)
	}
	loss := "none (no step trained)"
	if sum.FirstLoss != nil && sum.LastLoss != nil {
		loss = fmt.Sprintf("%.4f → %.4f", *sum.FirstLoss, *sum.LastLoss)
	}
	fmt.Fprintf(out, "\nsteps %d  loss %s  val %s  %.0f tokens/s\n", sum.Steps, loss, val, sum.TokensPerSec)
	if sum.Report != nil {
		sum.Report.Print(out)
	}
	if sum.Diagnosis != nil {
		sum.Diagnosis.Print(out)
	}
	if sum.Roofline != nil {
		sum.Roofline.Print(out)
	}
	if sum.Plan != nil && sum.Plan.EagerOptimizer {
		fmt.Fprintf(out, "eager optimizer: %s of %d redone (the global norm clipped, or was not finite), %.1f ms in all\n",
			words.Count(sum.OptimizerRedone, "step"), sum.Steps-sum.StartStep, 1e3*sum.OptimizerRedoS)
	}
	for _, tr := range sum.Transfers {
		fmt.Fprintln(out, "transfer:", tr)
	}
	wrote := []string{dir + "/run.json", dir + "/metrics.jsonl", dir + "/summary.json"}
	if sum.Report != nil { // the trace and the timeline draw the measured steps
		wrote = append(wrote, dir+"/trace.json (open in ui.perfetto.dev)", dir+"/timeline.svg")
	}
	if sum.Checkpoint != "" {
		wrote = append(wrote, "checkpoint "+sum.Checkpoint)
	}
	fmt.Fprintf(out, "wrote %s\n", strings.Join(wrote, ", "))
}
