// The roofline section: each kernel's FLOPs and bytes, the time the GPU allows it, its measured time, and the step as a fraction of what the GPU allows.

package report

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"baton/model"
)

// Roofline is a training step against what its GPUs allow: every kernel
// at max(FLOPs/peak, bytes/bandwidth), the step's allowed time being their
// sum spread over the GPUs (no bubble, no launch gaps, no overlap lost).
type Roofline struct {
	Device    string           `json:"device"` // the GPU's name as the driver gives it, or the CPU devices'
	Precision string           `json:"precision"`
	GPUs      int              `json:"gpus,omitempty"` // distinct GPUs the step ran on (partitions of one count once)
	FLOPs     float64          `json:"flops"`          // per step, every kernel call
	Bytes     float64          `json:"bytes"`
	StepS     float64          `json:"step_s"`               // measured: the mean of the kept steps
	BoundS    float64          `json:"bound_s,omitempty"`    // what the GPUs allow the step
	Fraction  float64          `json:"fraction,omitempty"`   // BoundS / StepS
	KernelS   float64          `json:"kernel_s,omitempty"`   // measured inside kernels per step (--profile-kernels)
	KernelsOf string           `json:"kernels_of,omitempty"` // what KernelS covers when not every device's kernels
	Note      string           `json:"note,omitempty"`       // why there is no bound
	Kernels   []RooflineKernel `json:"kernels"`
}

// RooflineKernel is one kernel (a kernels.Ops method at one shape) over a
// step: all its calls, wherever they run.
type RooflineKernel struct {
	model.Cost          // per call
	Where      string   `json:"where"`                // actions and units: "F h.0-11; B head"
	Calls      float64  `json:"calls"`                // per step
	BoundS     float64  `json:"bound_s,omitempty"`    // all the step's calls, on one GPU
	Bound      string   `json:"bound,omitempty"`      // "compute" or "memory"
	MeasuredS  *float64 `json:"measured_s,omitempty"` // all the step's calls, summed over devices
}

// KernelTime is a kernel's measured time per step and its calls per step.
type KernelTime struct {
	Op, Shape      string
	Calls, Seconds float64
}

// BuildRoofline prices the step's kernels ks (model.Plan.StepKernels) on
// gpus GPUs named gpu ("" for CPU devices, named by device) at precision,
// beside the measured step time stepS and, when profiled, each kernel's
// measured time.
func BuildRoofline(ks []model.Kernel, gpu, device string, gpus int, precision string, stepS float64, measured []KernelTime) *Roofline {
	r := &Roofline{Device: device, Precision: precision, StepS: stepS}
	r.FLOPs, r.Bytes = model.Totals(ks)
	peak, ok := PeakOf(gpu)
	switch {
	case gpu == "":
		r.Note = "no roofline for this device (" + device + "): no peak table for CPUs"
	case !ok:
		r.Device, r.Note = gpu, "no roofline for this device ("+gpu+"): baton has no peak figures for it"
	default:
		r.Device, r.GPUs = gpu, gpus
	}
	type key struct{ op, shape string }
	rows := map[key]*RooflineKernel{}
	where := map[key][]model.Kernel{}
	var order []key
	for _, k := range ks {
		kk := key{k.Op, k.Shape}
		row := rows[kk]
		if row == nil {
			row = &RooflineKernel{Cost: k.Cost}
			rows[kk] = row
			order = append(order, kk)
		}
		row.Calls += float64(k.Calls)
		where[kk] = append(where[kk], k)
	}
	for _, kk := range order {
		row := rows[kk]
		row.Where = describeWhere(where[kk])
		if s, by, ok := peak.Bound(row.Cost, precision); ok && r.GPUs > 0 {
			row.BoundS, row.Bound = s*row.Calls, by
			r.BoundS += row.BoundS
		} else if r.GPUs > 0 {
			r.Note = "no roofline for this device (" + gpu + "): no throughput figure for " + precision
		}
	}
	if r.Note != "" {
		r.BoundS = 0
		for _, row := range rows {
			row.BoundS, row.Bound = 0, ""
		}
	}
	for _, m := range measured {
		kk := key{m.Op, m.Shape}
		row := rows[kk]
		if row == nil { // a kernel the plan does not list (the eager optimizer's copies)
			row = &RooflineKernel{Cost: model.Cost{Op: m.Op, Shape: m.Shape}, Where: "not in the plan's kernels", Calls: m.Calls}
			rows[kk] = row
			order = append(order, kk)
		}
		s := m.Seconds
		row.MeasuredS = &s
		r.KernelS += s
	}
	if r.GPUs > 0 && r.BoundS > 0 {
		r.BoundS /= float64(r.GPUs)
		if stepS > 0 {
			r.Fraction = r.BoundS / stepS
		}
	}
	for _, kk := range order {
		r.Kernels = append(r.Kernels, *rows[kk])
	}
	slices.SortStableFunc(r.Kernels, func(a, b RooflineKernel) int {
		return cmp.Compare(b.sortKey(), a.sortKey())
	})
	return r
}

// sortKey orders kernels by their measured time, or their bound, or their bytes.
func (k RooflineKernel) sortKey() float64 {
	switch {
	case k.MeasuredS != nil:
		return *k.MeasuredS
	case k.BoundS > 0:
		return k.BoundS
	}
	return k.Calls * k.Bytes
}

// describeWhere says where a kernel's calls run: per action, its units,
// consecutive blocks as one range ("F h.0-11, head; W h.0-11").
func describeWhere(ks []model.Kernel) string {
	var actions []string
	units := map[string][]string{}
	for _, k := range ks {
		if _, ok := units[k.Action]; !ok {
			actions = append(actions, k.Action)
		}
		if !slices.Contains(units[k.Action], k.Unit) {
			units[k.Action] = append(units[k.Action], k.Unit)
		}
	}
	parts := make([]string, len(actions))
	for i, a := range actions {
		parts[i] = a + " " + strings.Join(blockRanges(units[a]), ", ")
	}
	return strings.Join(parts, "; ")
}

// blockRanges writes runs of consecutive blocks "h.3", "h.4", "h.5" as "h.3-5".
func blockRanges(units []string) []string {
	var out []string
	lo, prev := -1, -1
	flush := func() {
		switch {
		case lo < 0:
		case lo == prev:
			out = append(out, "h."+strconv.Itoa(lo))
		default:
			out = append(out, fmt.Sprintf("h.%d-%d", lo, prev))
		}
		lo = -1
	}
	sorted := slices.Clone(units)
	slices.SortStableFunc(sorted, func(a, b string) int { return cmp.Compare(unitRank(a), unitRank(b)) })
	for _, u := range sorted {
		b := blockOf(u)
		if b < 0 {
			flush()
			out = append(out, u)
			continue
		}
		if lo >= 0 && b != prev+1 {
			flush()
		}
		if lo < 0 {
			lo = b
		}
		prev = b
	}
	flush()
	return out
}

// blockOf is the block of a unit name "h.7", or -1 for the others.
func blockOf(unit string) int {
	s, ok := strings.CutPrefix(unit, "h.")
	if !ok {
		return -1
	}
	b, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return b
}

// unitRank orders units as the model does: the embedding, the blocks, the rest.
func unitRank(unit string) int {
	if b := blockOf(unit); b >= 0 {
		return b
	}
	if unit == "embedding" {
		return -1
	}
	return 1 << 30
}
