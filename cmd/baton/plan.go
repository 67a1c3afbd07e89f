// baton plan: how a model splits over devices, its memory per device, and the schedule's simulated idle time.
package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"baton/model"
	"baton/runtime"
)

func planCmd() *cobra.Command {
	var mf modelFlags
	var devices, split, lmap, schedule string
	var m, batch int
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "plan",
		Short:   "Show which layers each device runs, its memory, and the schedule's simulated idle time",
		Example: "  baton plan --model gpt2-124m --devices cpu:0..3 --schedule 1f1b --microbatches 8",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mc, _, err := mf.model()
			if err != nil {
				return usage(err)
			}
			names, err := runtime.ExpandDevices(devices)
			if err != nil {
				return usage(err)
			}
			s, err := runtime.Generate(schedule, len(names), m)
			if err != nil {
				return usage(fmt.Errorf("--schedule: %w", err))
			}
			if batch < 1 || batch%s.Microbatches != 0 {
				return usage(fmt.Errorf("--microbatches %d does not divide --batch %d", s.Microbatches, batch))
			}
			opts := model.PlanOptions{B: batch / s.Microbatches, T: mc.MaxT, InFlight: maxOf(s.PeakInFlight())}
			if opts.Split, err = model.ParseInts("--split", split); err != nil {
				return usage(err)
			}
			if opts.LayerMap, err = model.ParseInts("--layer-map", lmap); err != nil {
				return usage(err)
			}
			plan, err := model.Partition(mc, names, opts)
			if err != nil {
				return usage(err)
			}
			lowered := runtime.Lower(s)
			tl, err := runtime.Simulate(lowered, planCost(plan))
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					*model.Plan
					Schedule        string    `json:"schedule"`
					Microbatches    int       `json:"microbatches"`
					IdleFrac        []float64 `json:"idle_frac_simulated"`
					BubbleSimulated float64   `json:"bubble_simulated"`
					BubbleAnalytic  float64   `json:"bubble_analytic"`
				}{plan, s.Name, s.Microbatches, tl.IdleFrac, tl.Bubble, runtime.AnalyticBubble(s.Name, s.Devices, s.Microbatches)})
			}
			fmt.Fprint(out, plan)
			fmt.Fprintf(out, "\n%s with %d micro-batches, simulated with each stage's FLOPs as its cost:\n%s", s.Name, s.Microbatches, s.Grid(false))
			for d, f := range tl.IdleFrac {
				fmt.Fprintf(out, "  %s idle %.1f%%\n", names[d], f*100)
			}
			fmt.Fprintf(out, "bubble: simulated %.1f%%, analytic %.1f%% (equal stages)\n", tl.Bubble*100, runtime.AnalyticBubble(s.Name, s.Devices, s.Microbatches)*100)
			return nil
		},
	}
	fl := cmd.Flags()
	mf.add(fl)
	fl.StringVar(&devices, "devices", "cpu:0,cpu:1,cpu:2,cpu:3", "devices, one stage each")
	fl.StringVar(&split, "split", "", "decoder blocks per stage, e.g. 6,6,6,6")
	fl.StringVar(&lmap, "layer-map", "", "device index of each block, e.g. 0,0,1,1")
	fl.StringVar(&schedule, "schedule", "1f1b", "naive, gpipe or 1f1b")
	fl.IntVar(&m, "microbatches", 4, "micro-batches per step")
	fl.IntVar(&batch, "batch", 8, "sequences per step (for the memory estimate)")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// planCost makes each stage's forward cost its share of FLOPs (a third of
// training FLOPs) and its backward twice that.
func planCost(p *model.Plan) func(runtime.Action) float64 {
	return func(a runtime.Action) float64 {
		f := p.Stages[a.Stage].FLOPsPerToken / 3
		switch a.Kind {
		case runtime.F:
			return f
		case runtime.B:
			return 2 * f
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
