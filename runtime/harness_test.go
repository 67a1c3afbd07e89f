// A pipeline on virtual CPU devices with synthetic batches, shared by the tests and benchmarks.

package runtime

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"baton/kernels"
	"baton/model"
	"baton/runtime/device"
	"baton/runtime/schedule"
)

// pipeline is a model split over p virtual devices, ready to run steps.
type pipeline struct {
	ex     *Executor
	stages []*Stage
	devs   []device.Device
	in     *StepInput
	rng    *rand.Rand
	v      int
}

func newPipeline(tb testing.TB, cfg model.Config, name string, p, m, batch int) *pipeline {
	return newChunkedPipeline(tb, cfg, name, p, m, 1, batch)
}

// newChunkedPipeline puts v stages on each of p CPU devices.
func newChunkedPipeline(tb testing.TB, cfg model.Config, name string, p, m, v, batch int) *pipeline {
	tb.Helper()
	var devs []device.Device
	for i := range p {
		devs = append(devs, device.NewCPU(fmt.Sprintf("cpu:%d", i)))
	}
	return pipelineOn(tb, cfg, name, devs, m, v, batch)
}

// pipelineOn puts v stages on each of the given devices.
func pipelineOn(tb testing.TB, cfg model.Config, name string, devs []device.Device, m, v, batch int) *pipeline {
	tb.Helper()
	names := make([]string, len(devs))
	for i, d := range devs {
		names[i] = d.Name()
	}
	sched, err := schedule.GenerateChunks(name, len(devs), m, v)
	if err != nil {
		tb.Fatal(err)
	}
	m = sched.Microbatches
	stageDevices := sched.StageDevices(names)
	plan, err := model.Partition(cfg, stageDevices, model.PlanOptions{B: batch / m, T: cfg.MaxT})
	if err != nil {
		tb.Fatal(err)
	}
	stages, err := NewStages(devs, plan, batch/m, cfg.MaxT)
	if err != nil {
		tb.Fatal(err)
	}
	for _, st := range stages {
		st.Stack.Init(7)
	}
	lowered := schedule.Lower(sched)
	if err := schedule.Validate(lowered); err != nil {
		tb.Fatal(err)
	}
	T := cfg.MaxT
	inputs, targets := make([]int32, batch*T), make([]int32, batch*T)
	return &pipeline{
		ex: &Executor{Sched: lowered, Stages: stages, Devices: devs}, stages: stages, devs: devs,
		in: &StepInput{Tokens: microbatches(inputs, m), Targets: microbatches(targets, m), DScale: 1 / float32(batch*T),
			MaxGradNorm: 0.5, Adam: kernels.AdamParams{LR: 3e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}},
		rng: rand.New(rand.NewPCG(1, 2)), v: cfg.V,
	}
}

// step runs one training step on fresh random tokens.
func (p *pipeline) step(tb testing.TB) *StepResult {
	tb.Helper()
	for _, mb := range p.in.Tokens {
		for i := range mb {
			mb[i] = int32(p.rng.IntN(p.v))
		}
	}
	for _, mb := range p.in.Targets {
		for i := range mb {
			mb[i] = int32(p.rng.IntN(p.v))
		}
	}
	return p.run(tb)
}

// run runs the next training step on the batch in p.in.
func (p *pipeline) run(tb testing.TB) *StepResult {
	tb.Helper()
	p.in.AdamStep++
	res, err := p.ex.Run(p.in)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}
