// baton plan: how a model splits over devices, its memory per device, the schedule's simulated idle time, and what-if replays of a run.

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"baton/internal/words"
	"baton/model"
	"baton/runtime"
	"baton/runtime/device"
	"baton/runtime/schedule"
)

type planFlags struct {
	model                                  modelFlags
	devices, split, lmap, schedule, replay string
	scheduleFile, deviceMemory             string
	balance, recompute, optimizerStep      string
	top                                    int
	m, batch, chunks, devicesMax           int
	asJSON, devicesGiven                   bool
}

func planCmd() *cobra.Command {
	var f planFlags
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show which layers each device runs, its memory, and the schedule's simulated idle time",
		Example: `  baton plan --model gpt2-124m --devices cpu:0..3 --schedule 1f1b --microbatches 8
  baton plan --model gpt2-1558m --devices-max 8 --device-memory 80GiB --batch 8 --microbatches 8
  baton plan --replay runs/mine --schedule interleaved --chunks 2    # what if, on a run's measured times
  baton plan --replay runs/mine --balance measured                   # the best splits and schedules for its measured times`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.balance != "flops" && f.balance != "measured" {
				return usage(fmt.Errorf("--balance %q is not one of flops, measured", f.balance))
			}
			if f.replay != "" {
				if cmd.Flags().Changed("schedule") {
					noteNaive(cmd, f.schedule, f.m)
				}
				return runReplay(cmd, &f)
			}
			if f.balance == "measured" {
				return usage(fmt.Errorf("--balance measured needs --replay RUN_DIR: the measured costs come from a finished run (train it with --profile-layers for per-layer times)"))
			}
			f.devicesGiven = cmd.Flags().Changed("devices")
			if f.scheduleFile == "" {
				noteNaive(cmd, f.schedule, f.m)
				if n := unchunkedNote(f.schedule, f.chunks); n != "" {
					fmt.Fprintln(cmd.ErrOrStderr(), "baton:", n)
				}
			}
			if cmd.Flags().Changed("top") {
				return usage(fmt.Errorf("--top counts the choices of plan --replay RUN_DIR --balance measured; drop it"))
			}
			var given *schedule.Schedule
			if f.scheduleFile != "" {
				var err error
				if given, err = readScheduleFile(cmd, f.scheduleFile); err != nil {
					return err
				}
			}
			return runPlan(cmd.OutOrStdout(), cmd.ErrOrStderr(), &f, given)
		},
	}
	fl := cmd.Flags()
	f.model.add(fl)
	fl.StringVar(&f.devices, "devices", "cpu:0,cpu:1,cpu:2,cpu:3", "devices")
	fl.StringVar(&f.split, "split", "", "decoder blocks per stage, e.g. 6,6,6,6")
	fl.StringVar(&f.lmap, "layer-map", "", "stage index of each block (a device's with --chunks 1), e.g. 0,0,1,1")
	fl.StringVar(&f.schedule, "schedule", "1f1b", strings.Join(schedule.ScheduleNames, ", "))
	fl.StringVar(&f.scheduleFile, "schedule-file", "", "plan the schedule in this CSV file, one row of actions per device (see docs/schedule-files.md)")
	fl.IntVar(&f.m, "microbatches", 4, "micro-batches per step")
	fl.IntVar(&f.chunks, "chunks", 1, "stages per device (interleaved)")
	fl.IntVar(&f.batch, "batch", 8, "sequences per step (for the memory estimate)")
	fl.StringVar(&f.replay, "replay", "", "a run directory: predict its step time under --schedule, --microbatches, --chunks, --split, --devices and --recompute from its measured action times")
	fl.StringVar(&f.deviceMemory, "device-memory", "", "each device's memory to check the plan against, e.g. 80GiB (a GPU's partitions share it; default: what the driver reports for cuda devices, no check for cpu)")
	fl.IntVar(&f.devicesMax, "devices-max", 0, "also show the largest device's memory with the layers balanced over 1..N devices (the first N of --devices if given, else cpu:0..N−1)")
	fl.StringVar(&f.balance, "balance", "flops", "with --replay: flops, or measured to search every schedule, micro-batch count, chunk count and split on the run's measured times")
	fl.IntVar(&f.top, "top", 5, "with --balance measured: how many of the best choices to print")
	fl.StringVar(&f.recompute, "recompute", "none", "what each block's forward leaves for its backward to recompute: none, gelu, block (the memory estimate counts it)")
	fl.StringVar(&f.optimizerStep, "optimizer-step", "default", "default or eager, as train takes it: the memory estimate counts eager's copy of the parameters and moments")
	fl.BoolVar(&f.asJSON, "json", false, "print JSON")
	return cmd
}

// count is a flag that counts something, of which there must be at least one.
type count struct {
	flag, what string
	v          int
}

// checkCounts refuses the first count below 1, naming its flag (the runtime
// reads a chunk count of 0 as 1, which typed would change what was asked for
// unseen).
func checkCounts(counts ...count) error {
	for _, c := range counts {
		if c.v < 1 {
			return fmt.Errorf("--%s is %d; give the %s, at least 1", c.flag, c.v, c.what)
		}
	}
	return nil
}

// chunksCount is --chunks as a count.
func chunksCount(v int) count {
	return count{"chunks", "stages per device", v}
}

// runPlan plans the model over the devices under the given schedule (a
// schedule file's), or else the one the flags name, with each device's
// memory beside what it has and, with --devices-max, the memory over 1..N.
func runPlan(out, notes io.Writer, f *planFlags, given *schedule.Schedule) error {
	mc, _, err := f.model.model()
	if err != nil {
		return usage(err)
	}
	if err := checkCounts(count{"microbatches", "micro-batches per step", f.m}, chunksCount(f.chunks)); err != nil {
		return usage(err)
	}
	names, err := device.Expand(f.devices)
	if err != nil {
		return usage(err)
	}
	split, _ := model.ParseInts("split", f.split) // a bad one is refused by the planner
	lmap, _ := model.ParseInts("layer-map", f.lmap)
	fit := runtime.FitDevices(mc.L, f.chunks, split, lmap, given, len(names))
	cut := !f.devicesGiven && fit.N < len(names)
	if cut { // as train does: the default devices cut to what the model fills
		names = names[:fit.N]
	}
	plan, s, err := planOn(mc, names, f, given)
	if err != nil {
		return err
	}
	if cut {
		fmt.Fprintf(notes, "%s: planning on %d of the default devices, %s (--devices chooses)\n", fitReason("model", fit, f.chunks, given), fit.N, strings.Join(device.Strings(names), ","))
	}
	tl, err := schedule.Simulate(schedule.Lower(s), planCost(plan, names))
	if err != nil {
		return err
	}
	capacity, err := planCapacity(f, names)
	if err != nil {
		return err
	}
	mems := runtime.DeviceMemory(names, plan)
	scaling, err := planScaling(mc, names, f, given)
	if err != nil {
		return err
	}
	analytic := s.AnalyticBubble()
	var host *runtime.HostRoom
	if names[0].Kind == device.KindCPU {
		// CPU devices share the host: the run is checked against it as a
		// whole, whatever --device-memory asks about.
		h := runtime.HostFit(plan)
		host = &h
	}
	if f.asJSON {
		return writeJSON(out, struct {
			*model.Plan
			Schedule        string            `json:"schedule"`
			Microbatches    int               `json:"microbatches"`
			Chunks          int               `json:"chunks"`
			IdleFrac        []float64         `json:"idle_frac_simulated"`
			BubbleSimulated float64           `json:"bubble_simulated"`
			BubbleAnalytic  float64           `json:"bubble_analytic"`
			DeviceMemory    []deviceFit       `json:"device_memory"`
			Host            *runtime.HostRoom `json:"host,omitempty"` // CPU devices: the host they share
			Scaling         []scalePoint      `json:"devices_max,omitempty"`
		}{plan, s.Name, s.Microbatches, s.Chunks, tl.IdleFrac, tl.Bubble, analytic, fits(mems, capacity), host, scaling})
	}
	fmt.Fprint(out, plan)
	writeDeviceMemory(out, mems, capacity, f.deviceMemory != "")
	if host != nil && host.Fits != nil {
		which := "the host, which the CPU devices share"
		if f.deviceMemory != "" {
			which = "this host, which train weighs the CPU devices against rather than --device-memory"
		}
		fmt.Fprintf(out, "  %s, for all their stages and the process: %s; %s\n", which, model.HumanBytes(host.NeedBytes), host)
	}
	writeScaling(out, scaling, s)
	if n := len(scaling); n > 0 && scaling[n-1].Devices < f.devicesMax {
		chunks := ""
		if f.chunks > 1 {
			chunks = fmt.Sprintf(", %d chunks per device", f.chunks)
		}
		fmt.Fprintf(out, "  (--devices-max %d: at most %d, as every stage needs one of the model's %d layers%s)\n", f.devicesMax, scaling[n-1].Devices, mc.L, chunks)
	}
	fmt.Fprintf(out, "\n%s with %s, simulated with each stage's FLOPs as its cost:\n%s", s.Name, words.Count(s.Microbatches, "micro-batch"), s.Grid(false))
	for d, idle := range tl.IdleFrac {
		fmt.Fprintf(out, "  %s idle %.1f%%\n", names[d], idle*100)
	}
	basis := "equal stages"
	if given != nil {
		basis = schedule.Formula(s.Name)
	}
	fmt.Fprintf(out, "bubble: simulated %.1f%%, analytic %.1f%% (%s)\n", tl.Bubble*100, analytic*100, basis)
	return nil
}

// planOn plans mc over names under the given schedule, or else the one the
// flags name; its errors are usage errors.
func planOn(mc model.Config, names []device.Name, f *planFlags, given *schedule.Schedule) (*model.Plan, *schedule.Schedule, error) {
	s, err := given, error(nil)
	switch {
	case s == nil:
		if s, err = schedule.GenerateChunks(f.schedule, len(names), f.m, f.chunks); err != nil {
			return nil, nil, usage(fmt.Errorf("--schedule: %w", err))
		}
	case s.Devices != len(names):
		return nil, nil, usage(fmt.Errorf("--schedule-file %s has %d rows, one per device, but --devices names %d; give as many devices as the file has rows",
			f.scheduleFile, s.Devices, len(names)))
	}
	if f.batch < 1 {
		return nil, nil, usage(fmt.Errorf("--batch is %d; give the sequences per step, at least 1", f.batch))
	}
	if f.batch%s.Microbatches != 0 {
		if given != nil { // the file, not --microbatches, says the micro-batches
			return nil, nil, usage(fmt.Errorf("--schedule-file %s has %d micro-batches, which do not divide --batch %d; give a --batch that is a multiple of %d",
				f.scheduleFile, s.Microbatches, f.batch, s.Microbatches))
		}
		return nil, nil, usage(fmt.Errorf("--microbatches %d does not divide --batch %d", s.Microbatches, f.batch))
	}
	if given != nil && s.Stages > mc.L { // the planner's advice, fewer --chunks, cannot go beside a file
		return nil, nil, usage(fmt.Errorf("--schedule-file %s has %d stages (%d chunks on each of its %d rows) but the model has only %d layers: every stage needs at least one layer; give a file with at most %d stages, or more --layers",
			f.scheduleFile, s.Stages, s.Chunks, s.Devices, mc.L, mc.L))
	}
	opts := model.PlanOptions{B: f.batch / s.Microbatches, T: mc.MaxT, Stashes: s.Stashes(), Microbatches: s.Microbatches, SplitBackward: s.SplitsBackward()}
	if opts.Recompute, err = model.ParseRecompute(f.recompute); err != nil {
		return nil, nil, usage(err)
	}
	if opts.EagerOptimizer, err = runtime.ParseOptimizerStep(f.optimizerStep); err != nil {
		return nil, nil, usage(err)
	}
	if opts.Split, err = model.ParseInts("split", f.split); err != nil {
		return nil, nil, usage(err)
	}
	if opts.LayerMap, err = model.ParseInts("layer-map", f.lmap); err != nil {
		return nil, nil, usage(err)
	}
	plan, err := model.Partition(mc, s.StageDevices(device.Strings(names)), opts)
	if err != nil {
		return nil, nil, usage(err)
	}
	return plan, s, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// planCost makes each stage's forward cost its share of FLOPs (a third of
// training FLOPs) and its backward twice that; I and W half a backward
// each; all of them times its device's slow-down (cpu:1~3: 3 times).
func planCost(p *model.Plan, names []device.Name) func(schedule.Action) float64 {
	slow := map[string]float64{}
	for _, n := range names {
		slow[n.String()] = n.SlowDown()
	}
	return func(a schedule.Action) float64 {
		st := p.Stages[a.Stage]
		f := st.FLOPsPerToken / 3 * slow[st.Device]
		switch a.Kind {
		case schedule.F:
			return f
		case schedule.B:
			return 2 * f
		case schedule.I, schedule.W:
			return f
		}
		return 0
	}
}

// deviceFit is one device's memory beside what it has, per precision.
type deviceFit struct {
	runtime.DeviceMem
	Capacity int64           `json:"capacity,omitempty"` // bytes; 0 when unknown
	Fits     map[string]bool `json:"fits,omitempty"`     // by precision, when Capacity is known
}

// planCapacity is each device's memory: --device-memory for every device,
// else what the driver reports for a GPU; 0 (no check) for a CPU device.
func planCapacity(f *planFlags, names []device.Name) (func(string) int64, error) {
	if f.deviceMemory != "" {
		b, err := model.ParseSize("device-memory", f.deviceMemory)
		if err != nil {
			return nil, usage(err)
		}
		return func(string) int64 { return b }, nil
	}
	gpus := map[string]int64{}
	if len(names) > 0 && names[0].Kind == device.KindCUDA {
		gpus = runtime.GPUMemory()
	}
	return func(d string) int64 { return gpus[d] }, nil
}

func fits(mems []runtime.DeviceMem, capacity func(string) int64) []deviceFit {
	out := make([]deviceFit, len(mems))
	for i, m := range mems {
		out[i] = deviceFit{DeviceMem: m, Capacity: capacity(m.Device)}
		if out[i].Capacity > 0 {
			out[i].Fits = map[string]bool{}
			for _, p := range model.Precisions {
				out[i].Fits[p] = m.MemFor(p) <= out[i].Capacity
			}
		}
	}
	return out
}

// writeDeviceMemory prints each device's memory per precision and, where
// its memory is known, whether it fits.
func writeDeviceMemory(out io.Writer, mems []runtime.DeviceMem, capacity func(string) int64, given bool) {
	fmt.Fprintln(out, "\nmemory per device (a GPU's partitions and a device's chunks together):")
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "  device\tstages\tfp32/tf32\tbf16\thas")
	for _, d := range fits(mems, capacity) {
		has := "unknown: give --device-memory"
		if strings.HasPrefix(d.Device, "cpu:") && !given {
			has = "the host's (below)"
		}
		if d.Capacity > 0 {
			has = model.HumanBytes(d.Capacity)
			if given {
				has += " (--device-memory)"
			}
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\n", d.Device, model.JoinInts(d.Stages), sizeCell(d.MemFor("fp32"), d.Fits, "fp32"), sizeCell(d.MemFor("bf16"), d.Fits, "bf16"), has)
	}
	w.Flush()
}

// sizeCell is bytes in precision prec, and whether they fit where fits
// knows (nil: the memory is unknown).
func sizeCell(bytes int64, fits map[string]bool, prec string) string {
	s := model.HumanBytes(bytes)
	switch {
	case fits == nil:
		return s
	case fits[prec]:
		return s + " fits"
	}
	return s + " TOO BIG"
}

// scalePoint is the plan balanced over Devices devices: its split and its
// largest device's memory per precision, and whether every device fits;
// or, where the schedule cannot run on so many, why.
type scalePoint struct {
	Devices       int              `json:"devices"`
	Split         []int            `json:"split,omitempty"`
	MaxBytes      map[string]int64 `json:"max_mem_bytes,omitempty"`
	Fits          map[string]bool  `json:"fits,omitempty"`
	Unschedulable string           `json:"unschedulable,omitempty"`
}

// planScaling plans the model balanced over 1..--devices-max devices (no
// more than it has layers), under the flags' schedule.
func planScaling(mc model.Config, names []device.Name, f *planFlags, given *schedule.Schedule) ([]scalePoint, error) {
	n := f.devicesMax
	switch {
	case n == 0:
		return nil, nil
	case n < 0:
		return nil, usage(fmt.Errorf("--devices-max is %d; give 1 or more", n))
	case given != nil || f.split != "" || f.lmap != "":
		return nil, usage(fmt.Errorf("--devices-max plans balanced splits of a generated schedule; drop --schedule-file, --split and --layer-map"))
	case f.devicesGiven && len(names) < n:
		return nil, usage(fmt.Errorf("--devices-max %d but --devices names %d; name at least as many, or leave --devices out for cpu:0..%d", n, len(names), n-1))
	}
	capacity, err := planCapacity(f, names)
	if err != nil {
		return nil, err
	}
	var out []scalePoint
	for p := 1; p <= n && p*f.chunks <= mc.L; p++ {
		devs := names[:min(p, len(names))]
		if !f.devicesGiven {
			devs = make([]device.Name, p)
			for i := range devs {
				devs[i] = device.Name{Kind: device.KindCPU, Index: i, Part: -1}
			}
		}
		if _, err := schedule.GenerateChunks(f.schedule, p, f.m, f.chunks); err != nil {
			// A size this schedule cannot take (interleaving's micro-batches
			// a multiple of the devices): this row only, not the table.
			out = append(out, scalePoint{Devices: p, Unschedulable: err.Error()})
			continue
		}
		plan, _, err := planOn(mc, devs, f, nil)
		if err != nil {
			return nil, err
		}
		pt := scalePoint{Devices: p, Split: plan.Split(), MaxBytes: map[string]int64{}}
		for _, d := range fits(runtime.DeviceMemory(devs, plan), capacity) {
			for _, prec := range model.Precisions {
				pt.MaxBytes[prec] = max(pt.MaxBytes[prec], d.MemFor(prec))
				if d.Fits != nil {
					if pt.Fits == nil {
						pt.Fits = map[string]bool{"fp32": true, "tf32": true, "bf16": true}
					}
					pt.Fits[prec] = pt.Fits[prec] && d.Fits[prec]
				}
			}
		}
		out = append(out, pt)
	}
	return out, nil
}

// writeScaling prints the largest device's memory over 1..N devices.
func writeScaling(out io.Writer, pts []scalePoint, s *schedule.Schedule) {
	if len(pts) == 0 {
		return
	}
	fmt.Fprintf(out, "\nlargest device's memory, layers balanced over 1–%d devices (%s, %s):\n", pts[len(pts)-1].Devices, s.Name, words.Count(s.Microbatches, "micro-batch"))
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "  devices\tsplit\tfp32/tf32\tbf16")
	for _, p := range pts {
		if p.Unschedulable != "" {
			fmt.Fprintf(w, "  %d\t—\t—\t—\t%s\n", p.Devices, p.Unschedulable)
			continue
		}
		fmt.Fprintf(w, "  %d\t%s\t%s\t%s\n", p.Devices, model.JoinInts(p.Split), sizeCell(p.MaxBytes["fp32"], p.Fits, "fp32"), sizeCell(p.MaxBytes["bf16"], p.Fits, "bf16"))
	}
	w.Flush()
}
