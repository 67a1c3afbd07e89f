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
	Close() error
}

// cudaOpener opens "cuda:" devices; the cuda build sets it.
var cudaOpener func(spec string) ([]Device, error)

// ParseDevices turns "cpu:0,cpu:1" (or "cpu:0..3", "cuda:0", "cuda:0/4") into
// devices, refusing unknown names and duplicates before anything is allocated.
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

// ExpandDevices checks a device list and returns one name per entry, with
// "cpu:0..3" expanded. It opens nothing.
func ExpandDevices(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return nil, fmt.Errorf("--devices is empty; give e.g. cpu:0,cpu:1 or cuda:0")
	}
	seen := map[string]bool{}
	var out []string
	for _, raw := range strings.Split(list, ",") {
		name := strings.TrimSpace(raw)
		kind, idx, ok := strings.Cut(name, ":")
		if !ok || (kind != "cpu" && kind != "cuda") {
			return nil, fmt.Errorf("--devices: unknown device %q; use cpu:N (virtual CPU device), cuda:N (GPU N) or cuda:N/K (GPU N split into K SM partitions)", name)
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
			for i := a; i <= b; i++ {
				expanded = append(expanded, fmt.Sprintf("cpu:%d", i))
			}
		case kind == "cpu":
			if i, err := strconv.Atoi(idx); err != nil || i < 0 {
				return nil, fmt.Errorf("--devices: bad device %q; the index after cpu: must be a number ≥ 0", name)
			}
			expanded = []string{name}
		default:
			gpu, parts, split := strings.Cut(idx, "/")
			if i, err := strconv.Atoi(gpu); err != nil || i < 0 {
				return nil, fmt.Errorf("--devices: bad device %q; the GPU index after cuda: must be a number ≥ 0", name)
			}
			if split {
				if k, err := strconv.Atoi(parts); err != nil || k < 1 {
					return nil, fmt.Errorf("--devices: bad device %q; the partition count after / must be a number ≥ 1, as in cuda:0/4", name)
				}
			}
			expanded = []string{name}
		}
		if kind == "cuda" && cudaOpener == nil {
			return nil, fmt.Errorf("--devices %s: this binary was built without CUDA support; build with -tags cuda", name)
		}
		for _, e := range expanded {
			if seen[e] {
				return nil, fmt.Errorf("--devices: %s is listed twice; each stage needs its own device", e)
			}
			seen[e] = true
			out = append(out, e)
		}
	}
	return out, nil
}
