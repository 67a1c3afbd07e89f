// The numbers of a training run checked one by one: finite where they are real, in range, and small enough to allocate.

package runtime

import (
	"math"

	"baton/internal/field"
	"baton/kernels"
	"baton/model"
	"baton/runtime/device"
)

// validateOptimizer checks the learning-rate schedule, weight decay and
// clipping: every one finite, none negative.
func (c *TrainConfig) validateOptimizer() error {
	lr, minLR, wd := float64(c.LR), float64(c.MinLR), float64(c.WeightDecay)
	switch {
	case !(lr > 0) || math.IsInf(lr, 0):
		return field.Errorf("lr", "{lr} is %g; it must be a positive, finite number", c.LR)
	case !(minLR >= 0) || minLR > lr:
		return field.Errorf("min-lr", "{min-lr} is %g; it must be between 0 and {lr} (%g)", c.MinLR, c.LR)
	case !(wd >= 0) || math.IsInf(wd, 0):
		return field.Errorf("weight-decay", "{weight-decay} is %g; it must be a finite number of 0 or more (0: none)", c.WeightDecay)
	case !(c.MaxGradNorm >= 0) || math.IsInf(c.MaxGradNorm, 0):
		return field.Errorf("max-grad-norm", "{max-grad-norm} is %g; use 0 to turn clipping off or a positive, finite norm", c.MaxGradNorm)
	}
	return nil
}

// checkPrecision refuses bf16 on a CPU device: the CPU backend computes and
// stores float32 whatever the precision, so a bf16 run there would be an fp32
// run under another name.
func (c *TrainConfig) checkPrecision() error {
	if c.Precision != kernels.BF16 && c.StochasticRounding {
		return field.Errorf("bf16-rounding", "{bf16-rounding} stochastic rounds bf16 weights, and {precision} is %v: give {precision} bf16, or {bf16-rounding} nearest", c.Precision)
	}
	if c.Precision == kernels.FP32 {
		return nil
	}
	// A CPU device would compute in float32 whatever the run's record says:
	// tf32 too is refused there, not changed silently into fp32.
	for _, d := range c.Devices {
		if d.Kind == device.KindCPU {
			return field.Errorf("precision", "{precision} %v needs CUDA devices, and %s is a CPU device (which computes in float32): give cuda devices in {devices}, or {precision} fp32", c.Precision, d)
		}
	}
	return nil
}

// validateCounts checks the counts: none negative, the evaluation at least
// one batch, and a step's tokens within model.MaxStepTokens.
func (c *TrainConfig) validateCounts() error {
	for _, n := range []struct {
		v    int
		name string
	}{{c.Warmup, "warmup"}, {c.EvalEvery, "eval-every"}, {c.SaveEvery, "save-every"}, {c.Chunks, "chunks"}} {
		if n.v < 0 {
			return field.Errorf(n.name, "{"+n.name+"} is %d; it must not be negative", n.v)
		}
	}
	if c.EvalBatches < 1 {
		return field.Errorf("eval-batches", "{eval-batches} is %d; it must be at least 1 (validation batches per evaluation)", c.EvalBatches)
	}
	if c.DataLimit < 0 {
		return field.Errorf("data-limit", "{data-limit} is %d; give a number of bytes, or 0 for no limit", c.DataLimit)
	}
	if c.Batch > model.MaxStepTokens/c.Context {
		return field.Errorf("batch", "{batch} %d × {context} %d is more than %d tokens per step; lower {batch}", c.Batch, c.Context, model.MaxStepTokens)
	}
	return nil
}
