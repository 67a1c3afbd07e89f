// baton plan --replay: a finished run's diagnosis, what-if predictions on its measured times, and the search for the best way to run it.

package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"baton/model"
	"baton/runtime"
	"baton/runtime/device"
	"baton/runtime/report"
	"baton/runtime/schedule"
)

// runReplay predicts a run's step under another schedule, split or chunk
// count from its measured times, beside the run's own replay (which should
// match what was measured: the check on the method), and says what idled
// and why; with --balance measured it searches for the best choices.
//
// The replay simulates generated schedules only, so a run of a schedule
// file is not replayed as it ran: its measured step stands for that
// replay, it gets no diagnosis (whose suggestions are priced against that
// replay, as training skips it), and a what-if must name its schedule, or
// it would be the run's own.
func runReplay(cmd *cobra.Command, f *planFlags) error {
	fl := cmd.Flags()
	measured := f.balance == "measured"
	if err := replayFlags(fl, measured, f.top); err != nil {
		return err
	}
	r, sum, err := runtime.LoadReplay(f.replay)
	if err != nil {
		return usage(err)
	}
	// The run's own replay, on its own devices: the baseline every
	// prediction is set against, like for like.
	same, err := replayed(r, sum)
	if err != nil {
		return err
	}
	p, own, devNames := len(sum.Devices), true, sum.Devices
	var notes []string
	if sum.Steps-sum.StartStep == 1 {
		notes = append(notes, "the run trained one step, whose times include allocating its buffers and overstate a step's; a run of 2 steps or more measures those after its first")
	}
	if fl.Changed("devices") {
		names, err := device.Expand(f.devices)
		if err != nil {
			return usage(err)
		}
		p, own = len(names), slices.Equal(device.Strings(names), sum.Devices)
		devNames = device.Strings(names)
		var more []string
		r, more = runtime.ReplayOn(sum, r, names)
		notes = append(notes, more...)
	}
	switch L := sum.Config.L; {
	case p > L:
		return usage(fmt.Errorf("%d devices but only %d layers in the run's model: every stage needs at least one layer; use --devices with at most %d devices", p, L, L))
	case !measured && p*f.chunks > L:
		return usage(fmt.Errorf("%d devices × %d chunks = %d stages but only %d layers in the run's model: every stage needs at least one layer; use fewer --chunks or devices (at most %d stages)",
			p, f.chunks, p*f.chunks, L, L))
	}
	m := sum.Microbatches
	if fl.Changed("microbatches") {
		m = f.m
	}
	rc := sum.Plan.Recompute
	if fl.Changed("recompute") {
		if rc, err = model.ParseRecompute(f.recompute); err != nil {
			return usage(err)
		}
	}
	var capacity int64
	if f.deviceMemory != "" {
		if capacity, err = model.ParseSize("device-memory", f.deviceMemory); err != nil {
			return usage(err)
		}
	}
	split, err := model.ParseInts("split", f.split)
	if err != nil {
		return usage(err)
	}
	if measured {
		writeNotes(cmd.OutOrStdout(), f.asJSON, notes)
		return runSearch(cmd.OutOrStdout(), f, r, sum, same, report.Space{Devices: p, Capacity: capacity})
	}
	if same == nil && !fl.Changed("schedule") {
		return usage(fmt.Errorf("%s ran the schedule file %s, and a schedule file's run cannot be re-simulated under its own schedule; name one with --schedule to predict the run under it",
			f.replay, strings.TrimPrefix(sum.Schedule, schedule.FilePrefix)))
	}
	what, err := r.Predict(whatIf(fl, f, sum, p, m, split, rc))
	if err != nil {
		return usage(err)
	}
	diag, err := diagnosis(sum, r, own, p, capacity)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if f.asJSON {
		return writeJSON(out, map[string]any{"measured_pipeline_s": sum.PipelineS, "measured_bubble": sum.BubbleMeasured, "costs_from": r.Measured,
			"replayed": same, "predicted": what, "diagnosis": diag, "notes": notes})
	}
	writeMeasured(out, f.replay, sum, r, same)
	writeNotes(out, false, notes)
	fmt.Fprintf(out, "what if %s: predicted %.1f ms per step (%.2fx the speed of %s), bubble %.1f%%\n", what.Choice, what.StepS*1e3, baseline(sum, same)/what.StepS, baselineName(same), what.Bubble*100)
	for d, idle := range what.IdleFrac {
		over := ""
		if capacity > 0 && what.PeakBytes[d] > capacity {
			over = fmt.Sprintf(": does not fit --device-memory %s", model.HumanBytes(capacity))
		}
		fmt.Fprintf(out, "  %s idle %.1f%%, memory %s%s\n", devNames[d], idle*100, model.HumanBytes(what.PeakBytes[d]), over)
	}
	if diag != nil {
		if !own {
			fmt.Fprintln(out, "  note: the diagnosis below prices the devices asked about: its step is the run's choice on them")
		}
		diag.Print(out)
	}
	return nil
}

// replayFlags refuses the flags a replay would ignore: it takes the model
// and the batch from the run, a split only as --split, and with --balance
// measured chooses the schedule, split and the rest itself.
func replayFlags(fl *pflag.FlagSet, measured bool, top int) error {
	given := func(names ...string) string {
		var out []string
		for _, n := range names {
			if fl.Changed(n) {
				out = append(out, "--"+n)
			}
		}
		return strings.Join(out, ", ")
	}
	if g := given(append(modelFlagNames, "batch")...); g != "" {
		return usage(fmt.Errorf("--replay takes the model and the batch from the run; drop %s", g))
	}
	switch {
	case fl.Changed("optimizer-step"):
		return usage(fmt.Errorf("--replay takes the optimizer step from the run, whose memory its predictions count; drop --optimizer-step"))
	case fl.Changed("schedule-file"):
		return usage(fmt.Errorf("--replay predicts generated schedules only; drop --schedule-file"))
	case fl.Changed("layer-map"):
		return usage(fmt.Errorf("--replay takes a split as --split, blocks per stage; drop --layer-map (--layer-map 0,0,0,1 is --split 3,1)"))
	case fl.Changed("devices-max"):
		return usage(fmt.Errorf("--devices-max tabulates a model's memory over 1..N devices, which --replay does not; drop it"))
	case !measured && fl.Changed("top"):
		return usage(fmt.Errorf("--top counts the choices of --balance measured; drop it, or add --balance measured"))
	case measured && top < 1:
		return usage(fmt.Errorf("--top is %d; give how many choices to print, at least 1", top))
	}
	if g := given("schedule", "microbatches", "chunks", "split", "recompute"); measured && g != "" {
		return usage(fmt.Errorf("--balance measured chooses the schedule, micro-batches, chunks, split and recomputation; drop %s", g))
	}
	return nil
}

// whatIf is the choice a what-if predicts: the run's own, but for what
// the flags change. Its split is kept while the stages stay the same;
// on another number of stages, --split or the balanced split on the costs.
func whatIf(fl *pflag.FlagSet, f *planFlags, sum *runtime.Summary, p, m int, split []int, rc model.Recompute) report.Choice {
	c := sum.Choice()
	stages := c.Devices * c.Chunks
	c.Devices, c.Microbatches, c.Recompute = p, m, rc
	if fl.Changed("schedule") {
		c.Schedule, c.Chunks = f.schedule, f.chunks
	}
	if fl.Changed("chunks") {
		c.Chunks = f.chunks
	}
	if fl.Changed("split") || c.Devices*c.Chunks != stages {
		c.Split = split
	}
	return c
}

// writeNotes prints how a what-if on other devices prices them, in text.
func writeNotes(out io.Writer, asJSON bool, notes []string) {
	if asJSON {
		return
	}
	for _, n := range notes {
		fmt.Fprintf(out, "  note: %s\n", n)
	}
}

// diagnosis is the run's own when the run is replayed as it ran (own
// devices, no memory limit asked), else one priced with r for the devices
// and memory asked about; none for a schedule file's run.
func diagnosis(sum *runtime.Summary, r *report.Replay, own bool, p int, capacity int64) (*report.Diagnosis, error) {
	if sum.Report == nil || isFile(sum) {
		return nil, nil
	}
	if sum.Diagnosis != nil && own && capacity == 0 {
		return sum.Diagnosis, nil
	}
	return runtime.Diagnose(sum, r, p, capacity)
}

// isFile says whether the run ran a schedule file, which the replay cannot simulate.
func isFile(sum *runtime.Summary) bool { return strings.HasPrefix(sum.Schedule, schedule.FilePrefix) }

// replayed is the run's own choice replayed on its measured times, or nil
// for a schedule file's run.
func replayed(r *report.Replay, sum *runtime.Summary) (*report.Prediction, error) {
	if isFile(sum) {
		return nil, nil
	}
	return r.Predict(sum.Choice())
}

// baseline is the step time predictions are set against: the run's own
// replay (a prediction against a prediction, whose errors are alike), or
// for a schedule file's run, which cannot be replayed, its measured step.
func baseline(sum *runtime.Summary, same *report.Prediction) float64 {
	if same != nil {
		return same.StepS
	}
	return sum.PipelineS
}

// baselineName says what baseline is.
func baselineName(same *report.Prediction) string {
	if same != nil {
		return "the run's own replay"
	}
	return "the run's measured step"
}

// writeMeasured says how the run ran and, beside it, its replay: the
// check on the predictions that follow.
func writeMeasured(out io.Writer, dir string, sum *runtime.Summary, r *report.Replay, same *report.Prediction) {
	fmt.Fprintf(out, "run %s: %s: measured %.1f ms per step, bubble %.1f%%\n", dir, sum.Choice(), sum.PipelineS*1e3, sum.BubbleMeasured*100)
	if same == nil {
		fmt.Fprintln(out, "  not replayed: a schedule file's run cannot be re-simulated under its own schedule; its measured step stands for it")
		return
	}
	fmt.Fprintf(out, "  replayed on its own measured times (from its %s): %.1f ms, bubble %.1f%%\n", r.Measured, same.StepS*1e3, same.Bubble*100)
}

// runSearch prints the best choices the replay finds for the run's model.
func runSearch(out io.Writer, f *planFlags, r *report.Replay, sum *runtime.Summary, same *report.Prediction, sp report.Space) error {
	now := baseline(sum, same)
	all := r.Search(sp)
	if len(all) == 0 { // before any output, JSON or text: the command failed
		return fmt.Errorf("no choice fits %s per device; raise --device-memory or use more --devices", model.HumanBytes(sp.Capacity))
	}
	best := all[:min(f.top, len(all))]
	if f.asJSON {
		return writeJSON(out, map[string]any{"measured_pipeline_s": sum.PipelineS, "costs_from": r.Measured, "replayed": same, "best": best, "tried": len(all)})
	}
	writeMeasured(out, f.replay, sum, r, same)
	fmt.Fprintf(out, "the best %d of %d choices on %d devices, by predicted step time:\n", len(best), len(all), sp.Devices)
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(out, "  speed: against %s, %.1f ms (above 1x, faster)\n", baselineName(same), now*1e3)
	fmt.Fprintln(w, "  schedule\tm\tchunks\tsplit\tbalance\trecompute\tstep ms\tspeed\tbubble\tpeak memory/device\t")
	for _, c := range best {
		fmt.Fprintf(w, "  %s\t%d\t%d\t%s\t%s\t%s\t%.1f\t%.2fx\t%.1f%%\t%s\t\n", c.Schedule, c.Microbatches, c.Chunks, model.JoinInts(c.Split), c.Balance,
			c.Recompute, c.StepS*1e3, now/c.StepS, c.Bubble*100, model.HumanBytes(slices.Max(c.PeakBytes)))
	}
	return w.Flush()
}
