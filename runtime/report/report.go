// The idle report: per device compute, waits, transfers and idle time, and the bubble measured, simulated and analytic.

package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"baton/internal/words"
	"baton/model"
	"baton/runtime/schedule"
)

// DeviceStats are one device's mean times per step.
type DeviceStats struct {
	Device     string  `json:"device"`
	Stage      int     `json:"stage"`  // its first stage
	Stages     []int   `json:"stages"` // every stage it runs: d, d+p, … with chunks
	Layers     string  `json:"layers"`
	ComputeS   float64 `json:"compute_s"`   // forward and backward kernels
	WaitPrevS  float64 `json:"wait_prev_s"` // receives of activations: waiting on the stage before
	WaitNextS  float64 `json:"wait_next_s"` // receives of gradients: waiting on the stage after
	TransferS  float64 `json:"transfer_s"`  // sends: copies into the neighbour's memory
	OptimizerS float64 `json:"optimizer_s"` // the step after the flush: tied gradient, norm, AdamW
	IdleS      float64 `json:"idle_s"`      // pipeline time minus compute
	IdleFrac   float64 `json:"idle_frac"`   // IdleS / pipeline time
	PeakBytes  int64   `json:"peak_bytes"`

	// The rest of the idle time by cause, so that IdleS = WaitPrevS +
	// WaitNextS + TransferS + RecvCopyS + OptimizerInSpanS + GapS.
	RecvCopyS        float64 `json:"recv_copy_s"`         // receives after their wait: the copy landing
	OptimizerInSpanS float64 `json:"optimizer_in_span_s"` // the part of the optimizer step before the pipeline's end, waiting for the other stages' gradient norms
	GapS             float64 `json:"gap_s"`               // covered by no action: host and launch overhead, jitter
	Phases           Phases  `json:"phases"`
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
	CriticalPath    *PathReport   `json:"critical_path"`
}

// Build averages the steps' records of a run of s on devs; the simulated
// bubble replays the schedule on the measured mean duration of each
// (stage, kind).
func Build(s *schedule.Schedule, devs []DeviceInfo, steps []*Step) (*Report, error) {
	if len(steps) == 0 {
		return nil, fmt.Errorf("report: no measured steps")
	}
	r := &Report{Schedule: s.Name, Devices: len(devs), Microbatches: s.Microbatches, StepsMeasured: len(steps),
		BubbleAnalytic: s.AnalyticBubble()}
	n := float64(len(steps))
	r.PerDevice = make([]DeviceStats, len(devs))
	names := make([]string, len(devs))
	for d, dev := range devs {
		st := &r.PerDevice[d]
		st.Device, st.Stage = dev.Name, d // round-robin placement: device d's first stage is d
		for k := range s.Stages {
			if s.DeviceOf(k) == d {
				st.Stages = append(st.Stages, k)
			}
		}
		st.Layers, st.PeakBytes = dev.Layers, dev.PeakBytes
		names[d] = st.Device
	}
	r.CriticalPath = newPathReport(names, s.Stages)
	for _, res := range steps {
		span := res.PipelineSpan()
		r.PipelineS += span.Seconds() / n
		r.StepS += res.Time.Seconds() / n
		r.CriticalPath.add(res, 1/n)
		for d, recs := range res.Records {
			if d >= len(r.PerDevice) {
				continue
			}
			st := &r.PerDevice[d]
			var whole Split
			segs := deviceSegments(recs, span)
			whole.add(segs, 0, span, 1/n)
			st.Phases.add(segs, recs, span, 1/n)
			st.ComputeS += whole.ComputeS
			st.IdleS += whole.IdleS
			st.WaitPrevS += whole.WaitPrevS
			st.WaitNextS += whole.WaitNextS
			st.TransferS += whole.TransferS
			st.RecvCopyS += whole.RecvCopyS
			st.OptimizerInSpanS += whole.OptimizerS
			st.GapS += whole.GapS
			for _, rec := range recs {
				if rec.Action.Kind == schedule.Step {
					st.OptimizerS += (rec.End - rec.Start).Seconds() / n // the whole step, after the span too
				}
			}
		}
	}
	r.CriticalPath.finish(func(stage int) string {
		if d := s.DeviceOf(stage); d >= 0 && d < len(names) {
			return names[d]
		}
		return "no device"
	})
	for d := range r.PerDevice {
		st := &r.PerDevice[d]
		if r.PipelineS > 0 {
			st.IdleFrac = st.IdleS / r.PipelineS
		}
		r.BubbleMeasured += st.IdleFrac / float64(len(devs))
	}
	costSum, costN := actionTimes(steps, s.Stages)
	tl, err := schedule.Simulate(s, func(a schedule.Action) float64 {
		if a.Kind == schedule.Step || costN[a.Stage][a.Kind] == 0 {
			return 0
		}
		return costSum[a.Stage][a.Kind] / costN[a.Stage][a.Kind]
	})
	if err != nil {
		return nil, fmt.Errorf("report: simulating the measured costs: %w", err)
	}
	r.BubbleSimulated = tl.Bubble
	return r, nil
}

// PipelineSpan is the time from a step's origin to its last compute
// action: what a device's idle share of the step is a share of.
func (res *Step) PipelineSpan() time.Duration {
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
	fmt.Fprintf(w, "idle report: %s, %s, %s, mean of %s; pipeline %.1f ms, step %.1f ms\n",
		r.Schedule, words.Count(r.Devices, "device"), words.Count(r.Microbatches, "micro-batch"), words.Count(r.StepsMeasured, "step"), r.PipelineS*1e3, r.StepS*1e3)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "device\tstage\tlayers\tcompute ms\twait prev ms\twait next ms\ttransfer ms\toptimizer ms\tidle ms\tidle\tpeak MiB\t")
	for _, d := range r.PerDevice {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%.1f\t%.1f\t%.2f\t%.1f\t%.1f\t%.0f%%\t%.1f\t\n", d.Device, model.JoinInts(d.Stages), d.Layers,
			d.ComputeS*1e3, d.WaitPrevS*1e3, d.WaitNextS*1e3, d.TransferS*1e3, d.OptimizerS*1e3, d.IdleS*1e3, d.IdleFrac*100, float64(d.PeakBytes)/(1<<20))
	}
	tw.Flush()
	r.printIdle(w)
	fmt.Fprintf(w, "bubble: measured %.1f%%, simulated %.1f%% (replay of the measured action times), analytic %.1f%% (%s)\n",
		r.BubbleMeasured*100, r.BubbleSimulated*100, r.BubbleAnalytic*100, schedule.Formula(r.Schedule))
}

// printIdle writes where each device's idle time went: by pipeline phase,
// and by cause (copies are sends and receive copies together), then the
// critical path.
func (r *Report) printIdle(w io.Writer) {
	fmt.Fprintln(w, "idle by phase and by cause, ms:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "device\twarm-up\tsteady\tcool-down\t\twait prev\twait next\tcopies\toptimizer\tgaps\t")
	for _, d := range r.PerDevice {
		ph := d.Phases
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t\t%.1f\t%.1f\t%.2f\t%.1f\t%.2f\t\n", d.Device,
			ph.Warmup.IdleS*1e3, ph.Steady.IdleS*1e3, ph.Cooldown.IdleS*1e3,
			d.WaitPrevS*1e3, d.WaitNextS*1e3, (d.TransferS+d.RecvCopyS)*1e3, d.OptimizerInSpanS*1e3, d.GapS*1e3)
	}
	tw.Flush()
	if cp := r.CriticalPath; cp != nil {
		var parts []string
		for _, d := range cp.PerDevice {
			parts = append(parts, fmt.Sprintf("%s %.1f", d.Device, d.PathS*1e3))
		}
		if cp.GapS > 0 {
			parts = append(parts, fmt.Sprintf("gaps %.2f", cp.GapS*1e3))
		}
		fmt.Fprintf(w, "critical path: %.1f ms (%s); held up by %s\n", cp.LengthS*1e3, strings.Join(parts, ", "), cp.HeldUpBy)
	}
}
