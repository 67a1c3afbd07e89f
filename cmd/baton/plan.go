// baton plan: how a model splits over devices, its memory per device, the schedule's simulated idle time, and what-if replays of a run.

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"baton/model"
	"baton/runtime"
	"baton/runtime/device"
	"baton/runtime/schedule"
)

type planFlags struct {
	model                                  modelFlags
	devices, split, lmap, schedule, replay string
	scheduleFile                           string
	m, batch, chunks                       int
	asJSON                                 bool
}

func planCmd() *cobra.Command {
	var f planFlags
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show which layers each device runs, its memory, and the schedule's simulated idle time",
		Example: `  baton plan --model gpt2-124m --devices cpu:0..3 --schedule 1f1b --microbatches 8
  baton plan --replay runs/mine --schedule interleaved --chunks 2    # what if, on a run's measured times`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.replay != "" {
				if f.scheduleFile != "" {
					return usage(fmt.Errorf("--replay predicts generated schedules only; drop --schedule-file"))
				}
				return runReplay(cmd, &f)
			}
			var given *schedule.Schedule
			if f.scheduleFile != "" {
				var err error
				if given, err = readScheduleFile(cmd, f.scheduleFile); err != nil {
					return err
				}
			}
			return runPlan(cmd.OutOrStdout(), &f, given)
		},
	}
	fl := cmd.Flags()
	f.model.add(fl)
	fl.StringVar(&f.devices, "devices", "cpu:0,cpu:1,cpu:2,cpu:3", "devices")
	fl.StringVar(&f.split, "split", "", "decoder blocks per stage, e.g. 6,6,6,6")
	fl.StringVar(&f.lmap, "layer-map", "", "device index of each block, e.g. 0,0,1,1")
	fl.StringVar(&f.schedule, "schedule", "1f1b", strings.Join(schedule.ScheduleNames, ", "))
	fl.StringVar(&f.scheduleFile, "schedule-file", "", "plan the schedule in this CSV file, one row of actions per device (see docs/schedule-files.md)")
	fl.IntVar(&f.m, "microbatches", 4, "micro-batches per step")
	fl.IntVar(&f.chunks, "chunks", 1, "stages per device (interleaved)")
	fl.IntVar(&f.batch, "batch", 8, "sequences per step (for the memory estimate)")
	fl.StringVar(&f.replay, "replay", "", "a run directory: predict its step time under --schedule/--split/--chunks from its measured action times")
	fl.BoolVar(&f.asJSON, "json", false, "print JSON")
	return cmd
}

// runPlan plans the model over the devices under the given schedule (a
// schedule file's), or else the one the flags name.
func runPlan(out io.Writer, f *planFlags, given *schedule.Schedule) error {
	mc, _, err := f.model.model()
	if err != nil {
		return usage(err)
	}
	names, err := device.Expand(f.devices)
	if err != nil {
		return usage(err)
	}
	s := given
	switch {
	case s == nil:
		if s, err = schedule.GenerateChunks(f.schedule, len(names), f.m, f.chunks); err != nil {
			return usage(fmt.Errorf("--schedule: %w", err))
		}
	case s.Devices != len(names):
		return usage(fmt.Errorf("--schedule-file %s has %d rows, one per device, but --devices names %d; give as many devices as the file has rows",
			f.scheduleFile, s.Devices, len(names)))
	}
	if f.batch < 1 || f.batch%s.Microbatches != 0 {
		return usage(fmt.Errorf("--microbatches %d does not divide --batch %d", s.Microbatches, f.batch))
	}
	opts := model.PlanOptions{B: f.batch / s.Microbatches, T: mc.MaxT, InFlight: maxOf(s.Stashes())}
	if opts.Split, err = model.ParseInts("split", f.split); err != nil {
		return usage(err)
	}
	if opts.LayerMap, err = model.ParseInts("layer-map", f.lmap); err != nil {
		return usage(err)
	}
	stageDevices := s.StageDevices(device.Strings(names))
	plan, err := model.Partition(mc, stageDevices, opts)
	if err != nil {
		return usage(err)
	}
	tl, err := schedule.Simulate(schedule.Lower(s), planCost(plan))
	if err != nil {
		return err
	}
	analytic := s.AnalyticBubble()
	if f.asJSON {
		return writeJSON(out, struct {
			*model.Plan
			Schedule        string    `json:"schedule"`
			Microbatches    int       `json:"microbatches"`
			Chunks          int       `json:"chunks"`
			IdleFrac        []float64 `json:"idle_frac_simulated"`
			BubbleSimulated float64   `json:"bubble_simulated"`
			BubbleAnalytic  float64   `json:"bubble_analytic"`
		}{plan, s.Name, s.Microbatches, s.Chunks, tl.IdleFrac, tl.Bubble, analytic})
	}
	fmt.Fprint(out, plan)
	fmt.Fprintf(out, "\n%s with %d micro-batches, simulated with each stage's FLOPs as its cost:\n%s", s.Name, s.Microbatches, s.Grid(false))
	for d, idle := range tl.IdleFrac {
		fmt.Fprintf(out, "  %s idle %.1f%%\n", names[d], idle*100)
	}
	fmt.Fprintf(out, "bubble: simulated %.1f%%, analytic %.1f%% (equal stages)\n", tl.Bubble*100, analytic*100)
	return nil
}

// runReplay predicts a run's step under another schedule, split or chunk
// count from its measured action times, beside the run's own replay (which
// should match what was measured: the check on the method).
func runReplay(cmd *cobra.Command, f *planFlags) error {
	r, sum, err := runtime.LoadReplay(f.replay)
	if err != nil {
		return usage(err)
	}
	p := len(sum.Devices)
	if cmd.Flags().Changed("devices") {
		names, err := device.Expand(f.devices)
		if err != nil {
			return usage(err)
		}
		p = len(names)
	}
	m := sum.Microbatches
	if cmd.Flags().Changed("microbatches") {
		m = f.m
	}
	split, err := model.ParseInts("split", f.split)
	if err != nil {
		return usage(err)
	}
	same, err := r.Predict(sum.Schedule, len(sum.Devices), sum.Microbatches, len(sum.Plan.Stages)/len(sum.Devices), sum.Plan.Split())
	if err != nil {
		return err
	}
	what, err := r.Predict(f.schedule, p, m, f.chunks, split)
	if err != nil {
		return usage(err)
	}
	out := cmd.OutOrStdout()
	if f.asJSON {
		return writeJSON(out, map[string]any{"measured_pipeline_s": sum.PipelineS, "measured_bubble": sum.BubbleMeasured, "replayed": same, "predicted": what})
	}
	fmt.Fprintf(out, "run %s: %s, split %v, %d micro-batches: measured %.1f ms per step, bubble %.1f%%\n",
		f.replay, sum.Schedule, sum.Plan.Split(), sum.Microbatches, sum.PipelineS*1e3, sum.BubbleMeasured*100)
	fmt.Fprintf(out, "  replayed on its own measured times: %.1f ms, bubble %.1f%%\n", same.StepS*1e3, same.Bubble*100)
	fmt.Fprintf(out, "what if %s, split %v, %d micro-batches, %d chunks: predicted %.1f ms per step (%.2fx), bubble %.1f%%\n",
		what.Schedule, what.Split, what.Microbatches, what.Chunks, what.StepS*1e3, sum.PipelineS/what.StepS, what.Bubble*100)
	for d, idle := range what.IdleFrac {
		fmt.Fprintf(out, "  device %d idle %.1f%%\n", d, idle*100)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// planCost makes each stage's forward cost its share of FLOPs (a third of
// training FLOPs) and its backward twice that; I and W half a backward each.
func planCost(p *model.Plan) func(schedule.Action) float64 {
	return func(a schedule.Action) float64 {
		f := p.Stages[a.Stage].FLOPsPerToken / 3
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

func maxOf(xs []int) int {
	m := 1
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
