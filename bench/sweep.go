// The sweep: the points of devices × schedule × micro-batches, each trained with runtime.Trainer and measured.

package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"time"

	"baton/kernels"
	"baton/model"
	"baton/runtime"
	"baton/runtime/device"
	"baton/runtime/schedule"
)

// Options say what to sweep and how long to run each point.
type Options struct {
	Preset       string        // model name as reported ("tiny", "small", "custom")
	Model        model.Config  // architecture
	Devices      []device.Name // expanded; a point with p devices uses the first p
	Ps           []int         // device counts
	Schedules    []string
	Microbatches []int               // naive ignores them: it always runs one
	Precisions   []kernels.Precision // of cuda: devices' matrix products; cpu: devices compute in fp32 only
	Chunks       int                 // stages per device of the interleaved schedule
	Batch        int                 // sequences per step; every m must divide it
	Steps        int                 // measured steps per point, after one warm-up step
	Data         string              // "" is the default corpus
	DataLimit    int64
	Seed         uint64
	Command      string // the command line that reproduces the sweep, for the report
	// Words words why a point was skipped (the CLI names fields as its
	// flags); nil: the error's own message.
	Words func(error) string
}

// Result is one point, measured over Steps steps after one warm-up.
type Result struct {
	Model           string
	Devices         []string // names, one per pipeline device
	Schedule        string
	Precision       string // fp32 or tf32 (PyTorch rows: bf16 too)
	Microbatches    int    // as run (naive: 1)
	Chunks          int
	TokensPerSec    float64 // batch tokens over the mean measured step time
	StepS           float64 // mean measured step, optimizer included
	BubbleMeasured  float64
	BubbleSimulated float64   // the schedule replayed on the measured action times
	BubbleAnalytic  float64   // the schedule's formula
	IdleFrac        []float64 // per device, of the pipeline time
	PeakBytes       []int64   // per device
	Skipped         string    // why the point did not run ("" when it did)
	// PointP is the point's device count, p, which Devices gives only
	// for a point that ran.
	PointP int
}

// P is the number of devices of the point.
func (r Result) P() int { return len(r.Devices) }

// Point is one configuration to run.
type Point struct {
	P, M, Chunks int
	Schedule     string
	Precision    kernels.Precision
}

// Points enumerates the sweep: for each p, each schedule, each m, each
// precision; a schedule that always runs one micro-batch (naive) runs once
// per p and precision, and only a chunked one (interleaved) takes Chunks.
func (o Options) Points() []Point {
	var pts []Point
	for _, p := range o.Ps {
		for _, s := range o.Schedules {
			ms, v := o.Microbatches, 1
			tr, _ := schedule.Lookup(s) // an unknown name has no traits, and RunPoint skips its points
			if tr.OneMicrobatch {
				ms = []int{1}
			}
			if tr.Chunked {
				v = max(o.Chunks, 1)
			}
			for _, m := range ms {
				for _, prec := range o.precisions() {
					pts = append(pts, Point{P: p, M: m, Chunks: v, Schedule: s, Precision: prec})
				}
			}
		}
	}
	return pts
}

// precisions are the sweep's precisions: fp32 alone unless it names others.
func (o Options) precisions() []kernels.Precision {
	if len(o.Precisions) == 0 {
		return []kernels.Precision{kernels.FP32}
	}
	return o.Precisions
}

// Run trains every point in turn and returns one Result per point, a
// point whose configuration cannot work (a schedule that needs m to be a
// multiple of p, more stages than layers) marked Skipped rather than
// failing the sweep. log gets one line per point.
func Run(ctx context.Context, o Options, log io.Writer) ([]Result, error) {
	var out []Result
	pts := o.Points()
	for i, pt := range pts {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		t0 := time.Now()
		r, err := RunPoint(ctx, o, pt)
		if err != nil {
			return out, fmt.Errorf("%s p=%d m=%d %s: %w", pt.Schedule, pt.P, pt.M, pt.Precision, err)
		}
		out = append(out, r)
		if log != nil {
			if r.Skipped != "" {
				fmt.Fprintf(log, "[%d/%d] %-11s p=%d m=%-2d %s skipped: %s\n", i+1, len(pts), pt.Schedule, pt.P, pt.M, pt.Precision, r.Skipped)
			} else {
				fmt.Fprintf(log, "[%d/%d] %-11s p=%d m=%-2d %s %8.0f tokens/s  bubble %5.1f%% measured, %5.1f%% analytic  (%.1fs)\n",
					i+1, len(pts), pt.Schedule, pt.P, r.Microbatches, pt.Precision, r.TokensPerSec, r.BubbleMeasured*100, r.BubbleAnalytic*100, time.Since(t0).Seconds())
			}
		}
	}
	return out, nil
}

// CheckTempDir makes and removes a directory where RunPoint makes each
// point's run directory (os.TempDir: $TMPDIR, else /tmp), so that one that
// cannot be used stops the sweep before its first point, and the message
// says that it is TMPDIR, not the point, that is wrong.
func CheckTempDir() error {
	dir, err := os.MkdirTemp("", "baton-bench-")
	if err == nil {
		err = os.Remove(dir)
	}
	if err == nil {
		return nil
	}
	// The path is TMPDIR's, or holds a random name: say the cause alone.
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if v := os.Getenv("TMPDIR"); v != "" {
		return fmt.Errorf("TMPDIR=%s: cannot make the sweep's temporary run directories there: %v; unset TMPDIR or point it at a writable directory", v, err)
	}
	return fmt.Errorf("cannot make the sweep's temporary run directories in %s (TMPDIR is unset): %v; set TMPDIR to a writable directory", os.TempDir(), err)
}

// RunPoint trains one point for 1+Steps steps in a temporary run
// directory (the trainer always evaluates once at the end, untimed; it
// saves no checkpoint, and the directory is removed).
func RunPoint(ctx context.Context, o Options, pt Point) (Result, error) {
	r := Result{Model: o.Preset, Schedule: pt.Schedule, Precision: pt.Precision.String(), Microbatches: pt.M, Chunks: pt.Chunks, PointP: pt.P}
	if pt.P > len(o.Devices) {
		r.Skipped = fmt.Sprintf("%d devices asked for, %d given", pt.P, len(o.Devices))
		return r, nil
	}
	devs := o.Devices[:pt.P]
	if pt.Precision != kernels.FP32 && slices.ContainsFunc(devs, func(d device.Name) bool { return d.Kind == device.KindCPU }) {
		r.Skipped = "cpu: devices compute in fp32 only"
		return r, nil
	}
	dir, err := os.MkdirTemp("", "baton-bench-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	cfg := runtime.TrainConfig{
		Preset: o.Preset, Model: o.Model, Schedule: pt.Schedule, Microbatches: pt.M, Chunks: pt.Chunks,
		Batch: o.Batch, Context: o.Model.MaxT, Steps: 1 + o.Steps, LR: 1e-3, MinLR: 1e-4, Warmup: 1,
		WeightDecay: 0.1, MaxGradNorm: 1, Seed: o.Seed, Data: o.Data, DataLimit: o.DataLimit,
		EvalBatches: 1, Timeout: 5 * time.Minute, Out: dir, Devices: devs, Precision: pt.Precision, SkipCheckpoint: true,
	}
	tr, err := runtime.NewTrainer(cfg)
	if err != nil {
		if ce := (*runtime.ConfigError)(nil); errors.As(err, &ce) {
			r.Skipped = err.Error()
			if o.Words != nil {
				r.Skipped = o.Words(err)
			}
			return r, nil
		}
		return r, err
	}
	defer tr.Close()
	sum, err := tr.Run(ctx, nil)
	if err != nil {
		return r, err
	}
	if sum.Report == nil || sum.Interrupted {
		return r, fmt.Errorf("no measured steps")
	}
	rep := sum.Report
	r.Devices = sum.Devices
	r.Microbatches = rep.Microbatches
	r.StepS = rep.StepS
	if rep.StepS > 0 {
		r.TokensPerSec = float64(o.Batch*o.Model.MaxT) / rep.StepS
	}
	r.BubbleMeasured, r.BubbleSimulated, r.BubbleAnalytic = rep.BubbleMeasured, rep.BubbleSimulated, rep.BubbleAnalytic
	for _, d := range rep.PerDevice {
		r.IdleFrac = append(r.IdleFrac, d.IdleFrac)
		r.PeakBytes = append(r.PeakBytes, d.PeakBytes)
	}
	return r, nil
}
