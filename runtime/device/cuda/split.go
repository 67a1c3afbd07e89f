//go:build cuda

// Splitting a GPU into SM partitions (cuda:N/K): green contexts of equal SM groups, or streams of one context where they are unavailable, after cuBLAS is primed on the whole GPU.

package cuda

import (
	"cmp"
	"errors"
	"fmt"
	"os"

	"gorgonia.org/cu"

	"baton/internal/field"
	kcuda "baton/kernels/cuda"
	"baton/runtime/device"
)

// noGreenEnv, when set, makes cuda:N/K use streams of one context instead of
// green contexts (to compare the two, or to get around a driver's bug).
const noGreenEnv = "BATON_NO_GREEN_CONTEXTS"

// makeSplit splits g into k partitions: green contexts of equal SM groups
// where the driver has them, else k streams of the primary context. The
// first cuBLAS handle is made on the primary context before any partition's.
func (g *gpuState) makeSplit(k int) error {
	spec := fmt.Sprintf("cuda:%d/%d", g.index, k)
	if err := g.primeCuBLAS(); err != nil {
		return field.Errorf("devices", "{devices} %s: %w", spec, err)
	}
	why := greenAvailable()
	if os.Getenv(noGreenEnv) != "" {
		why = fmt.Errorf("%s is set", noGreenEnv)
	}
	if why == nil {
		parts, err := g.greenSplit(k, spec)
		var tooMany *tooManyPartitions
		switch {
		case err == nil:
			g.parts, g.split, g.taken = k, parts, make([]bool, k)
			return nil
		case errors.As(err, &tooMany):
			return err
		}
		why = err // the driver has green contexts but will not make these: fall back
	}
	if k > g.facts.sms {
		return field.Errorf("devices", "{devices} %s: GPU %d (%s) has %d SMs; split it into at most %d partitions", spec, g.index, g.facts.name, g.facts.sms, g.facts.sms)
	}
	fmt.Fprintf(os.Stderr, "baton: %s: green contexts unavailable (%v); its %d partitions are streams of one context and share all %d SMs, so their kernels overlap only where they leave SMs free\n",
		spec, why, k, g.facts.sms)
	g.parts, g.split, g.taken = k, make([]partition, k), make([]bool, k)
	for i := range g.split {
		g.split[i] = partition{ctx: g.primary, sms: g.facts.sms}
	}
	return nil
}

// tooManyPartitions is a split into more partitions than green contexts
// can make of the GPU: the user's to fix.
type tooManyPartitions struct{ err error }

func (e *tooManyPartitions) Error() string { return e.err.Error() }
func (e *tooManyPartitions) Unwrap() error { return e.err }

// greenSplit makes k green contexts of equal SM groups, as large as the
// driver's granularity allows. minCount is the size of each group.
func (g *gpuState) greenSplit(k int, spec string) ([]partition, error) {
	total := g.facts.sms
	var split smSplit
	var lastErr error
	for minCount := total / k; minCount >= 1; minCount-- {
		s, err := splitSMs(g.dev, k, minCount)
		if err != nil { // a size the driver refuses (granularity): try the next
			lastErr = err
			continue
		}
		if len(s.sms) >= k {
			split = s
			break
		}
	}
	if len(split.sms) < k {
		most, err := maxGreenPartitions(g.dev)
		if err != nil || most == 0 {
			return nil, fmt.Errorf("splitting the %d SMs of GPU %d: %w", total, g.index, errors.Join(err, lastErr))
		}
		return nil, &tooManyPartitions{field.Errorf("devices", "{devices} %s: GPU %d (%s) has %d SMs and green contexts split it into at most %d partitions; use cuda:%d/%d or fewer",
			spec, g.index, g.facts.name, total, most, g.index, most)}
	}
	parts := make([]partition, 0, k)
	for i := range k {
		gc, ctx, err := greenCreate(g.dev, split, i)
		if err != nil {
			for _, p := range parts {
				greenDestroy(p.green)
			}
			return nil, fmt.Errorf("green context %d of %d SMs: %w", i, split.sms[i], err)
		}
		parts = append(parts, partition{green: gc, ctx: ctx, sms: split.sms[i]})
	}
	return parts, nil
}

// maxGreenPartitions is how many groups of the smallest size the driver
// splits d's SMs into.
func maxGreenPartitions(d cu.Device) (int, error) {
	if err := greenAvailable(); err != nil {
		return 0, err
	}
	var first error
	for minCount := 1; minCount <= 16; minCount++ { // the first size the driver takes is its smallest
		s, err := splitSMs(d, device.MaxPartitions, minCount)
		if err == nil {
			return len(s.sms), nil
		}
		first = cmp.Or(first, err)
	}
	return 0, first
}

// primeCuBLAS makes the first cuBLAS handle of g on its primary context,
// before any partition's: cuBLAS keeps the heuristics of the first context
// it meets, and those of a partition of a few SMs are poor for the whole
// GPU (GPU.md). kernels/cuda keeps that handle for the life of the process,
// so the primary context it lives in is retained as long (one reference
// that is never released). The registry's lock is held.
func (g *gpuState) primeCuBLAS() error {
	if primed[g.index] {
		return nil
	}
	if _, err := g.dev.RetainPrimaryCtx(); err != nil {
		return check("cuDevicePrimaryCtxRetain", err)
	}
	if err := kcuda.PrimeCublas(g.primary); err != nil {
		g.dev.ReleasePrimaryCtx()
		return fmt.Errorf("the first cuBLAS handle, on the primary context: %w", err)
	}
	primed[g.index] = true
	return nil
}

// primed are the GPUs whose primary context holds the first cuBLAS handle.
var primed = map[int]bool{}
