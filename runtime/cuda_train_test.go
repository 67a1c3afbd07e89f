//go:build cuda

// The real model on CUDA devices: the tiny model's losses against the CPU's, and many executor steps without growth.

package runtime

import (
	"fmt"
	"math"
	"testing"

	"baton/kernels"
	"baton/model"
	"baton/runtime/device"
	"baton/runtime/device/cuda"
)

// openCUDA opens a device list in fp32 (device.Expand, then device.Open),
// closing it when the test ends.
func openCUDA(tb testing.TB, list string) []*cuda.Device { return openCUDAIn(tb, list, kernels.FP32) }

// openCUDAIn is openCUDA in precision prec.
func openCUDAIn(tb testing.TB, list string, prec kernels.Precision) []*cuda.Device {
	tb.Helper()
	names, err := device.Expand(list)
	if err != nil {
		tb.Fatal(err)
	}
	devs, err := device.Open(names, device.Options{Precision: prec})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { device.CloseAll(devs) })
	out := make([]*cuda.Device, len(devs))
	for i, d := range devs {
		out[i] = d.(*cuda.Device)
	}
	return out
}

func asDevices(ds []*cuda.Device) []device.Device {
	out := make([]device.Device, len(ds))
	for i, d := range ds {
		out[i] = d
	}
	return out
}

// tinyL4 is the tiny model with 4 layers.
func tinyL4() model.Config {
	cfg := model.Presets["tiny"]
	cfg.L = 4
	return cfg
}

// TestCUDATinyTracksCPU trains the tiny model (L=4) for 20 steps on CUDA
// devices with the CUDA kernels in fp32 and on cpu:0 with the reference
// kernels, from the same weights on the same batches: the losses must agree
// within 1e-3 relative at every step (float32 sums in different orders,
// amplified a little by AdamW over 20 steps), and so must an evaluation
// after them. The runs cover the whole GPU, its split in two partitions,
// and, with more micro-batches than stages, stashes reused across
// micro-batches (the copy into one waits for its release fence) and the
// split backward of zb-h1.
func TestCUDATinyTracksCPU(t *testing.T) {
	cfg := tinyL4()
	const steps = 20
	type ref struct {
		losses []float64
		eval   float64
	}
	refs := map[int]ref{}
	for _, m := range []int{2, 4} {
		cpu := pipelineOn(t, cfg, "1f1b", []device.Device{device.NewCPU("cpu:0")}, m, 1, 4)
		var r ref
		for range steps {
			r.losses = append(r.losses, cpu.step(t).Loss)
		}
		var err error
		if r.eval, err = cpu.ex.Evaluate(cpu.in); err != nil {
			t.Fatal(err)
		}
		refs[m] = r
	}
	for _, c := range []struct {
		list, schedule string
		m              int
	}{{"cuda:0", "1f1b", 2}, {"cuda:0/2", "1f1b", 2}, {"cuda:0/2", "1f1b", 4}, {"cuda:0/2", "zb-h1", 4}} {
		t.Run(fmt.Sprintf("%s/%s/m=%d", c.list, c.schedule, c.m), func(t *testing.T) {
			want := refs[c.m]
			devs := openCUDA(t, c.list)
			gpu := pipelineOn(t, cfg, c.schedule, asDevices(devs), c.m, 1, 4)
			worst := 0.0
			check := func(what string, got, want float64) {
				rel := math.Abs(got-want) / math.Max(1, math.Abs(want))
				worst = max(worst, rel)
				if rel > 1e-3 || math.IsNaN(got) {
					t.Fatalf("%s: loss %.6f on %s, %.6f on cpu:0 (relative difference %.2g > 1e-3)", what, got, c.list, want, rel)
				}
			}
			for i := range steps {
				check(fmt.Sprintf("step %d", i+1), gpu.step(t).Loss, want.losses[i])
			}
			eval, err := gpu.ex.Evaluate(gpu.in)
			if err != nil {
				t.Fatal(err)
			}
			check("evaluation", eval, want.eval)
			t.Logf("20 losses and an evaluation within %.2g of cpu:0's (first %.4f, last %.4f)", worst, want.losses[0], want.losses[steps-1])
		})
	}
}

// TestCUDATrainerManySteps runs 100 executor steps of the tiny model over
// cuda:0/2 after 20 of warm-up: the allocators' live bytes, the GPU's free
// memory (within 4 MiB) and the events made must not grow. A step's events
// all go back to the pool within the step (32 per device here, made by the
// first step), so the count must stay put: a step that kept its events
// would make thousands over 100 steps; the slack (as many again as the
// warm-up made) lets through only events whose return waits for a collection.
func TestCUDATrainerManySteps(t *testing.T) {
	const steps = 100
	devs := openCUDA(t, "cuda:0/2")
	p := pipelineOn(t, tinyL4(), "1f1b", asDevices(devs), 2, 1, 4)
	measure := func() (live []int64, free int64, made []int) {
		for _, d := range devs {
			l, _ := d.Memory()
			live = append(live, l)
			m, _ := d.Events()
			made = append(made, m)
		}
		free, _, err := devs[0].GPUMemory()
		if err != nil {
			t.Fatal(err)
		}
		return live, free, made
	}
	for range 20 {
		p.step(t)
	}
	live0, free0, made0 := measure()
	for range steps {
		p.step(t)
	}
	live1, free1, made1 := measure()
	t.Logf("live %v → %v, free %d → %d, events made %v → %v", live0, live1, free0, free1, made0, made1)
	for i := range live1 {
		if live1[i] != live0[i] {
			t.Errorf("%s: live bytes went from %d to %d over %d steps", devs[i].Name(), live0[i], live1[i], steps)
		}
		if made1[i] > 2*made0[i] {
			t.Errorf("%s: events made went from %d to %d over %d steps: they are not reused", devs[i].Name(), made0[i], made1[i], steps)
		}
	}
	if free0-free1 > 4<<20 {
		t.Errorf("the GPU's free memory fell by %d bytes over %d steps", free0-free1, steps)
	}
}

// TestCUDAOutOfMemory: stages too large for the GPU fail naming the device,
// and closing the devices gives every byte back.
func TestCUDAOutOfMemory(t *testing.T) {
	names, err := device.Expand("cuda:0")
	if err != nil {
		t.Fatal(err)
	}
	devs, err := device.Open(names, device.Options{Precision: kernels.FP32})
	if err != nil {
		t.Fatal(err)
	}
	d := devs[0]
	huge := model.Config{V: 50304, MaxT: 1024, C: 8192, NH: 64, L: 64} // ~54 B parameters × 4 copies
	plan, err := model.Partition(huge, []string{d.Name()}, model.PlanOptions{B: 1, T: 1024})
	if err != nil {
		t.Fatal(err)
	}
	err = guard(func() error {
		_, err := NewStages(devs, plan, 1, 1024)
		return err
	})
	t.Logf("error: %v", err)
	if err == nil {
		t.Fatal("a model of 54 B parameters fit")
	}
	device.CloseAll(devs)
	if cuda.OpenGPUs() != 0 {
		t.Fatal("the GPU is still held after Close")
	}
}
