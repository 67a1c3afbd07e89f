// baton schedule: a schedule's action grid and its simulated and analytic bubble, with no devices; schedule files written and read.

package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"baton/internal/fsutil"
	"baton/internal/words"
	"baton/runtime/report"
	"baton/runtime/schedule"
)

// scheduleJSON is the machine-readable form of a schedule and its bubble.
type scheduleJSON struct {
	Schedule        string     `json:"schedule"`
	Devices         int        `json:"devices"` // --stages: one row of actions each
	Chunks          int        `json:"chunks"`  // stages per device
	Stages          int        `json:"stages"`  // of the pipeline: devices × chunks
	Microbatches    int        `json:"microbatches"`
	Actions         [][]string `json:"actions"` // per device, lowered (sends and receives included)
	PeakInFlight    []int      `json:"peak_in_flight"`
	BubbleSimulated float64    `json:"bubble_simulated"`
	BubbleAnalytic  float64    `json:"bubble_analytic"`
}

func scheduleCmd() *cobra.Command {
	var name, file, svg string
	var stages, m, chunks int
	var all, asJSON bool
	var f, b float64
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Print a pipeline schedule's action grid and its simulated bubble",
		Example: `  baton schedule --schedule 1f1b --stages 4 --microbatches 8
  baton schedule --schedule zb-h1 --stages 4 --microbatches 8 --out zb.csv   # then: baton train --schedule-file zb.csv`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutputs([]pathFlag{{"--out", file, false}, {"--svg", svg, false}}, nil); err != nil {
				return usage(err)
			}
			for _, o := range []pathFlag{{"--out", file, false}, {"--svg", svg, false}} {
				if err := probeFileDir(o.flag, o.path); err != nil {
					return err
				}
			}
			if err := checkCounts(count{"stages", "pipeline's stages", stages}, count{"microbatches", "micro-batches per step", m}, chunksCount(chunks)); err != nil {
				return usage(err)
			}
			s, err := schedule.GenerateChunks(name, stages, m, chunks)
			if err != nil {
				return usage(fmt.Errorf("--schedule: %w", err))
			}
			noteNaive(cmd, name, m)
			if !(f > 0) || !(b > 0) || math.IsInf(f, 0) || math.IsInf(b, 0) {
				return usage(fmt.Errorf("--cost-f is %g and --cost-b %g; both must be positive, finite numbers", f, b))
			}
			lowered := schedule.Lower(s)
			if err := schedule.Validate(lowered); err != nil {
				return err
			}
			tl, err := schedule.Simulate(lowered, schedule.UniformCost(f, b))
			if err != nil {
				return err
			}
			shown := s
			if all {
				shown = lowered
			}
			if file != "" {
				if err := fsutil.WriteAtomic(file, shown.WriteCSV); err != nil {
					return fmt.Errorf("--out: %w", err)
				}
			}
			if svg != "" {
				if err := writeSimulatedTimeline(svg, lowered, tl, f, b); err != nil {
					return fmt.Errorf("--svg: %w", err)
				}
			}
			analytic := s.AnalyticBubble()
			out := cmd.OutOrStdout()
			if asJSON {
				j := scheduleJSON{Schedule: s.Name, Devices: s.Devices, Chunks: s.Chunks, Stages: s.Stages, Microbatches: s.Microbatches,
					PeakInFlight: s.PeakInFlight(), BubbleSimulated: tl.Bubble, BubbleAnalytic: analytic}
				for _, l := range lowered.Lists {
					row := []string{}
					for _, a := range l {
						row = append(row, a.String())
					}
					j.Actions = append(j.Actions, row)
				}
				return writeJSON(out, j)
			}
			fmt.Fprintf(out, "%s, %s, %s\n%s", s.Name, words.Count(s.Stages, "stage"), words.Count(s.Microbatches, "micro-batch"), shown.Grid(all))
			fmt.Fprintf(out, "peak micro-batches in flight per stage: %v\n", s.PeakInFlight())
			fmt.Fprintf(out, "bubble: simulated %.1f%% (forward %g, backward %g), analytic %.1f%% = %s\n",
				tl.Bubble*100, f, b, analytic*100, schedule.Formula(s.Name))
			if file != "" {
				fmt.Fprintf(out, "wrote %s: one row of actions per device (baton train --schedule-file %s runs it)\n", file, file)
			}
			if svg != "" {
				fmt.Fprintf(out, "wrote %s: the simulated step\n", svg)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "schedule", "1f1b", strings.Join(schedule.ScheduleNames, ", "))
	fl.IntVar(&stages, "stages", 4, "devices (with --chunks v, the pipeline has v stages per device)")
	fl.IntVar(&chunks, "chunks", 1, "stages per device, for interleaved")
	fl.IntVar(&m, "microbatches", 8, "micro-batches per step")
	fl.BoolVar(&all, "all", false, "show sends and receives too")
	fl.BoolVar(&asJSON, "json", false, "print JSON: the lowered action lists and the bubbles")
	fl.Float64Var(&f, "cost-f", 1, "simulated cost of a forward")
	fl.Float64Var(&b, "cost-b", 2, "simulated cost of a backward")
	fl.StringVar(&svg, "svg", "", "draw the simulated step to this SVG file, as baton train draws a measured one (one cost unit per millisecond)")
	fl.StringVar(&file, "out", "", "write the schedule to this CSV file, one row per device (with --all, lowered); see docs/schedule-files.md")
	return cmd
}

// readScheduleFile reads, validates and simulates a schedule file for
// --schedule-file (schedule.ReadCSV), and checks that it was given alone:
// the file says the schedule, its micro-batches and its chunks.
func readScheduleFile(cmd *cobra.Command, path string) (*schedule.Schedule, error) {
	for _, name := range []string{"schedule", "microbatches", "chunks"} {
		if cmd.Flags().Changed(name) {
			return nil, usage(fmt.Errorf("--schedule-file %s says the schedule, its micro-batches and chunks; drop --%s", path, name))
		}
	}
	fh, _, err := fsutil.OpenRegular(path)
	if err != nil {
		return nil, usage(fmt.Errorf("--schedule-file: %w", err))
	}
	defer fh.Close()
	s, err := schedule.ReadCSV(fh, path)
	if err != nil {
		return nil, usage(err)
	}
	return s, nil
}

// writeSimulatedTimeline draws the step tl simulates for s as timeline.svg
// draws a measured one, each cost unit a millisecond.
func writeSimulatedTimeline(path string, s *schedule.Schedule, tl *schedule.Timeline, f, b float64) error {
	devices := make([]string, s.Devices)
	for d := range devices {
		devices[d] = fmt.Sprintf("dev %d", d)
	}
	title := fmt.Sprintf("%s, %s, %s, simulated with forward %g, backward %g: bubble %.0f%% (analytic %.0f%% = %s)",
		s.Name, words.Count(s.Devices, "device"), words.Count(s.Microbatches, "micro-batch"), f, b, tl.Bubble*100, s.AnalyticBubble()*100, schedule.Formula(s.Name))
	return fsutil.WriteAtomic(path, func(w io.Writer) error {
		return report.WriteTimeline(w, devices, report.Simulated(tl, time.Millisecond), title)
	})
}
