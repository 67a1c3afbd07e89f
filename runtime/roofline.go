// The run's roofline: its plan's kernels priced on its GPUs, beside the measured step and, with --profile-kernels, each kernel's measured time.

package runtime

import (
	"fmt"
	"strings"

	"baton/kernels"
	"baton/runtime/device"
	"baton/runtime/report"
)

// roofline prices one step of the run's plan against the GPUs it ran on;
// stepS is the measured mean step time.
func (t *Trainer) roofline(measured []*StepResult, stepS float64) *report.Roofline {
	cfg := t.cfg
	e := elemBytes(cfg.Precision)
	pl, on, names := t.plan, t.gpus(), cfg.deviceNames()
	if cfg.Group != nil && t.kprof != nil {
		// The kernels this rank timed, on its own GPUs, not every rank's
		// beside its times alone.
		pl, on, names = cfg.Group.own(pl), gpusOf(cfg.Devices), device.Strings(cfg.Devices)
	}
	ks := pl.StepKernels(t.ex.Sched.Microbatches, t.ex.Sched.SplitsBackward(), e)
	if k, ok := pl.PaddingKernel(t.ex.Sched.Microbatches, e); ok && t.cfg.vocab > 0 {
		ks = append(ks, k)
	}
	gpu, gpus := gpuOf(on, names[0])
	r := report.BuildRoofline(ks, gpu, strings.Join(names, ","), gpus, cfg.Precision.String(), stepS, t.kprof.times(measured, e))
	if cfg.Group != nil && t.kprof != nil {
		r.KernelsOf = "this rank's devices only"
	}
	return r
}

// elemBytes is the size of an activation, parameter or gradient at
// precision p: float32 in fp32 and tf32 (tf32 rounds inside the products
// only), 2 bytes in the 16-bit precisions.
func elemBytes(p kernels.Precision) int {
	if s := p.String(); s == "bf16" || s == "fp16" {
		return 2
	}
	return 4
}

// gpuOf names the GPU the run's devices are on (the first's model, where
// they differ) and counts the GPUs among them, whichever rank holds them;
// "" where any device is not on a GPU. first names the run's first device.
func gpuOf(on []gpuOn, first string) (gpu string, gpus int) {
	seen := map[string]bool{}
	for _, o := range on {
		if o.GPU == "" {
			return "", 0
		}
		seen[o.GPU] = true
		if gpu == "" {
			gpu = o.Model
		}
	}
	if gpu == "" {
		gpu = fmt.Sprintf("an unnamed GPU (%s)", first)
	}
	return gpu, len(seen)
}
