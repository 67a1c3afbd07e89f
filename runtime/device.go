// Package runtime runs a decoder split into stages over devices: devices,
// schedules as data, the executor, timers, and the idle report.
//
// Main types: Device (CPU virtual devices here; CUDA devices in the cuda
// build), Action and Schedule (what each device does, as data), Executor (runs
// one training step of a schedule and times every action), Trainer (the
// training loop), Report (compute, waits, transfers and idle per device).
package runtime

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"baton/kernels"
)

// Event is a point on one device's timeline, recorded in its stream order.
type Event interface{}

// Device is where a stage's kernels run, in the order they are issued (its
// stream), with timers and memory accounting.
type Device interface {
	Name() string
	Ops() kernels.Ops
	// Record marks the current point of the device's stream.
	Record() Event
	// Wait makes the device's stream wait until e, recorded on any device, has passed.
	Wait(e Event)
	// Elapsed is the time from a to b, both recorded on this device.
	Elapsed(a, b Event) time.Duration
	// CopyTo copies src (this device's) into dst (owned by peer), in this device's stream.
	CopyTo(peer Device, dst, src kernels.Buffer)
	// Sync waits on the host until the device's stream is drained.
	Sync()
	// Memory is the bytes allocated now and at most, since the device was made.
	Memory() (live, peak int64)
	// Bind readies the calling goroutine to issue work on the device, and
	// unbind undoes it: a CUDA device locks the goroutine to its OS thread
	// and makes its context current there; a CPU device does nothing. Each
	// executor worker binds its device for the whole step.
	Bind() (unbind func())
	Close() error
}

// cudaOpener opens "cuda:" devices; the cuda build sets it.
var cudaOpener func(spec string) ([]Device, error)

// ParseDevices turns "cpu:0,cpu:1" (or "cpu:0..3", "cuda:0", "cuda:0/4") into
// devices, refusing unknown names and duplicates before anything is allocated.
// On an error every device already opened is closed.
func ParseDevices(list string) ([]Device, error) {
	names, err := ExpandDevices(list)
	if err != nil {
		return nil, err
	}
	var devs []Device
	for _, n := range names {
		if strings.HasPrefix(n, "cuda:") {
			ds, err := cudaOpener(n)
			if err != nil {
				closeAll(devs)
				return nil, err
			}
			devs = append(devs, ds...)
			continue
		}
		devs = append(devs, NewCPUDevice(n))
	}
	return devs, nil
}

func closeAll(devs []Device) {
	for _, d := range devs {
		d.Close()
	}
}

// maxCPUDevices bounds a cpu:A..B range, which would otherwise let a typo
// ask for millions of devices.
const maxCPUDevices = 1024

// ExpandDevices checks a device list and returns one name per device, with
// "cpu:0..3" expanded and "cuda:0/4" expanded into its partitions
// "cuda:0/4#0" … "cuda:0/4#3". It opens nothing. A GPU is used either whole
// or split one way: "cuda:0,cuda:0/4" and "cuda:0/2,cuda:0/4" are refused,
// as are cpu: and cuda: devices in one list (no transfer joins them).
func ExpandDevices(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return nil, fmt.Errorf("--devices is empty; give e.g. cpu:0,cpu:1 or cuda:0")
	}
	seen := map[string]bool{}
	splits := map[int]int{} // GPU → partitions it is split into (0: used whole)
	var out []string
	var kinds []string
	for _, raw := range strings.Split(list, ",") {
		name := strings.TrimSpace(raw)
		kind, idx, ok := strings.Cut(name, ":")
		if !ok || (kind != "cpu" && kind != "cuda") {
			return nil, fmt.Errorf("--devices: unknown device %q; use cpu:N (virtual CPU device), cuda:N (GPU N) or cuda:N/K (GPU N split into K SM partitions)", name)
		}
		if !slices.Contains(kinds, kind) {
			kinds = append(kinds, kind)
		}
		var expanded []string
		switch {
		case kind == "cpu" && strings.Contains(idx, ".."):
			lo, hi, _ := strings.Cut(idx, "..")
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil || a < 0 || b < a {
				return nil, fmt.Errorf("--devices: bad range %q; write cpu:0..3", name)
			}
			if b-a >= maxCPUDevices {
				return nil, fmt.Errorf("--devices: %s is %d devices; at most %d virtual CPU devices make sense (each is a stage)", name, b-a+1, maxCPUDevices)
			}
			for i := a; i <= b; i++ {
				expanded = append(expanded, fmt.Sprintf("cpu:%d", i))
			}
		case kind == "cpu":
			if i, err := strconv.Atoi(idx); err != nil || i < 0 {
				return nil, fmt.Errorf("--devices: bad device %q; the index after cpu: must be a number ≥ 0", name)
			}
			expanded = []string{name}
		default:
			if cudaOpener == nil {
				return nil, fmt.Errorf("--devices %s: this binary was built without CUDA support; build with -tags cuda", name)
			}
			c, err := ParseCUDAName(name)
			if err != nil {
				return nil, err
			}
			if k, ok := splits[c.GPU]; ok && k != c.Parts {
				if k == 0 || c.Parts == 0 {
					return nil, fmt.Errorf("--devices: GPU %d is listed both whole (cuda:%d) and split (cuda:%d/%d); use it one way", c.GPU, c.GPU, c.GPU, max(k, c.Parts))
				}
				return nil, fmt.Errorf("--devices: GPU %d is split both %d and %d ways; split it one way", c.GPU, k, c.Parts)
			}
			splits[c.GPU] = c.Parts
			switch {
			case c.Parts == 0:
				expanded = []string{c.String()}
			case c.Part >= 0:
				expanded = []string{c.String()}
			default:
				for i := range c.Parts {
					p := c
					p.Part = i
					expanded = append(expanded, p.String())
				}
			}
		}
		for _, e := range expanded {
			if seen[e] {
				return nil, fmt.Errorf("--devices: %s is listed twice; each stage needs its own device", e)
			}
			seen[e] = true
			out = append(out, e)
		}
	}
	if len(kinds) > 1 {
		return nil, fmt.Errorf("--devices: cpu: and cuda: devices cannot be mixed in one run (no transfer joins a GPU and a virtual CPU device); list only one kind")
	}
	return out, nil
}

// MaxPartitions bounds K in cuda:N/K before any GPU is asked; the GPU's own
// limit (its SMs over the smallest green-context group) is checked on open.
const MaxPartitions = 256

// CUDAName is a parsed cuda: device: a whole GPU (Parts 0), or partition Part
// of GPU split into Parts (Part -1: all of them, as written "cuda:0/4").
type CUDAName struct {
	GPU, Parts, Part int
}

// String is the device's name: "cuda:0", "cuda:0/4" or "cuda:0/4#2".
func (c CUDAName) String() string {
	switch {
	case c.Parts == 0:
		return fmt.Sprintf("cuda:%d", c.GPU)
	case c.Part < 0:
		return fmt.Sprintf("cuda:%d/%d", c.GPU, c.Parts)
	}
	return fmt.Sprintf("cuda:%d/%d#%d", c.GPU, c.Parts, c.Part)
}

// ParseCUDAName parses "cuda:N", "cuda:N/K" or "cuda:N/K#i".
func ParseCUDAName(name string) (CUDAName, error) {
	idx, ok := strings.CutPrefix(name, "cuda:")
	if !ok {
		return CUDAName{}, fmt.Errorf("--devices: %q is not a cuda: device", name)
	}
	c := CUDAName{Part: -1}
	gpu, rest, split := strings.Cut(idx, "/")
	var err error
	if c.GPU, err = strconv.Atoi(gpu); err != nil || c.GPU < 0 {
		return CUDAName{}, fmt.Errorf("--devices: bad device %q; the GPU index after cuda: must be a number ≥ 0", name)
	}
	if !split {
		return c, nil
	}
	parts, part, one := strings.Cut(rest, "#")
	if c.Parts, err = strconv.Atoi(parts); err != nil || c.Parts < 1 || c.Parts > MaxPartitions {
		return CUDAName{}, fmt.Errorf("--devices: bad device %q; the partition count after / must be a number from 1 to %d, as in cuda:0/4", name, MaxPartitions)
	}
	if one {
		if c.Part, err = strconv.Atoi(part); err != nil || c.Part < 0 || c.Part >= c.Parts {
			return CUDAName{}, fmt.Errorf("--devices: bad device %q; the partition after # must be a number from 0 to %d", name, c.Parts-1)
		}
	}
	return c, nil
}
