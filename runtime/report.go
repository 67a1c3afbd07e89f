// The idle report: per device compute, waits, transfers and idle time, and the bubble measured, simulated and analytic.
package runtime

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// DeviceStats are one device's mean times per step.
type DeviceStats struct {
	Device     string  `json:"device"`
	Stage      int     `json:"stage"`
	Layers     string  `json:"layers"`
	ComputeS   float64 `json:"compute_s"`   // forward and backward kernels
	WaitPrevS  float64 `json:"wait_prev_s"` // receives of activations: waiting on the stage before
	WaitNextS  float64 `json:"wait_next_s"` // receives of gradients: waiting on the stage after
	TransferS  float64 `json:"transfer_s"`  // sends: copies into the neighbour's memory
	OptimizerS float64 `json:"optimizer_s"` // the step after the flush: tied gradient, norm, AdamW
	IdleS      float64 `json:"idle_s"`      // pipeline time minus compute
	IdleFrac   float64 `json:"idle_frac"`   // IdleS / pipeline time
	PeakBytes  int64   `json:"peak_bytes"`
}

// Report is the idle report of a run's measured steps.
type Report struct {
	Schedule        string        `json:"schedule"`
	Devices         int           `json:"num_devices"`
	Microbatches    int           `json:"microbatches"`
	StepsMeasured   int           `json:"steps_measured"`
	PipelineS       float64       `json:"pipeline_s"` // mean time from a step's start to its last forward or backward
	StepS           float64       `json:"step_s"`     // mean time of the whole step, optimizer included
	BubbleMeasured  float64       `json:"bubble_measured"`
	BubbleSimulated float64       `json:"bubble_simulated"`
	BubbleAnalytic  float64       `json:"bubble_analytic"`
	PerDevice       []DeviceStats `json:"per_device"`
}

// BuildReport averages the steps' records. layers names each device's
// layers; the simulated bubble replays the schedule on the measured mean
// duration of each (stage, kind).
func BuildReport(s *Schedule, devs []Device, layers []string, steps []*StepResult) (*Report, error) {
	if len(steps) == 0 {
		return nil, fmt.Errorf("report: no measured steps")
	}
	r := &Report{Schedule: s.Name, Devices: len(devs), Microbatches: s.Microbatches, StepsMeasured: len(steps),
		BubbleAnalytic: AnalyticBubble(s.Name, s.Devices, s.Microbatches)}
	n := float64(len(steps))
	type key struct {
		stage int
		kind  Kind
	}
	costSum, costN := map[key]float64{}, map[key]float64{}
	r.PerDevice = make([]DeviceStats, len(devs))
	for d, dev := range devs {
		st := &r.PerDevice[d]
		st.Device, st.Stage = dev.Name(), d
		if d < len(layers) {
			st.Layers = layers[d]
		}
		_, st.PeakBytes = dev.Memory()
	}
	for _, res := range steps {
		span := pipelineSpan(res)
		r.PipelineS += span.Seconds() / n
		r.StepS += res.Time.Seconds() / n
		for d, recs := range res.Records {
			st := &r.PerDevice[d]
			var compute time.Duration
			for _, rec := range recs {
				dur := rec.End - rec.Start
				k := key{rec.Action.Stage, rec.Action.Kind}
				costSum[k] += (dur - rec.Wait).Seconds() // a receive's own cost is what it did after waiting
				costN[k]++
				switch rec.Action.Kind {
				case F, B, I, W:
					compute += dur
				case RecvF:
					st.WaitPrevS += rec.Wait.Seconds() / n
				case RecvB:
					st.WaitNextS += rec.Wait.Seconds() / n
				case SendF, SendB:
					st.TransferS += dur.Seconds() / n
				case Step:
					st.OptimizerS += dur.Seconds() / n
				}
			}
			st.ComputeS += compute.Seconds() / n
			st.IdleS += (span - compute).Seconds() / n
		}
	}
	for d := range r.PerDevice {
		st := &r.PerDevice[d]
		if r.PipelineS > 0 {
			st.IdleFrac = st.IdleS / r.PipelineS
		}
		r.BubbleMeasured += st.IdleFrac / float64(len(devs))
	}
	tl, err := Simulate(s, func(a Action) float64 {
		k := key{a.Stage, a.Kind}
		if a.Kind == Step || costN[k] == 0 {
			return 0
		}
		return costSum[k] / costN[k]
	})
	if err != nil {
		return nil, fmt.Errorf("report: simulating the measured costs: %w", err)
	}
	r.BubbleSimulated = tl.Bubble
	return r, nil
}

// pipelineSpan is the time from a step's origin to its last compute action.
func pipelineSpan(res *StepResult) time.Duration {
	var span time.Duration
	for _, recs := range res.Records {
		for _, rec := range recs {
			if rec.Action.Kind.IsCompute() {
				span = max(span, rec.End)
			}
		}
	}
	return span
}

// Print writes the report as a table.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "idle report: %s, %d devices, %d micro-batches, mean of %d steps; pipeline %.1f ms, step %.1f ms\n",
		r.Schedule, r.Devices, r.Microbatches, r.StepsMeasured, r.PipelineS*1e3, r.StepS*1e3)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "device\tstage\tlayers\tcompute ms\twait prev ms\twait next ms\ttransfer ms\toptimizer ms\tidle ms\tidle\tpeak MiB\t")
	for _, d := range r.PerDevice {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.1f\t%.1f\t%.1f\t%.2f\t%.1f\t%.1f\t%.0f%%\t%.1f\t\n", d.Device, d.Stage, d.Layers,
			d.ComputeS*1e3, d.WaitPrevS*1e3, d.WaitNextS*1e3, d.TransferS*1e3, d.OptimizerS*1e3, d.IdleS*1e3, d.IdleFrac*100, float64(d.PeakBytes)/(1<<20))
	}
	tw.Flush()
	fmt.Fprintf(w, "bubble: measured %.1f%%, simulated %.1f%% (replay of the measured action times), analytic %.1f%% (%s)\n",
		r.BubbleMeasured*100, r.BubbleSimulated*100, r.BubbleAnalytic*100, analyticFormula(r.Schedule))
}

func analyticFormula(name string) string {
	if strings.EqualFold(name, "naive") {
		return "(p-1)/p"
	}
	return "(p-1)/(m+p-1)"
}
