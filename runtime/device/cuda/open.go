//go:build cuda

// Opening CUDA devices: the driver this package registers, the per-GPU registry the devices of one GPU share, a device's streams and kernels, and release.

package cuda

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"sync"

	"gorgonia.org/cu"

	"baton/internal/field"
	kcuda "baton/kernels/cuda"
	"baton/runtime/device"
)

func init() {
	device.Register(device.KindCUDA, device.Driver{Open: open, List: listGPUs, LinkID: newLinkID, OpenLink: openLink})
}

// gpuState is one GPU as the open devices share it: its primary context,
// and its split into green contexts when it is partitioned.
type gpuState struct {
	index int
	dev   cu.Device
	facts gpuFacts
	refs  int // open devices on this GPU
	// primary is retained while any device of the GPU is open: a whole-GPU
	// device runs on it, fallback partitions share it, and the first cuBLAS
	// handle of a split GPU is made on it (see primeCuBLAS).
	primary cu.CUContext
	splitAs device.Name // how it is split (Part -1), as cuda:N/K or cuda:N/[S0,S1,…]; Parts 0: not split
	split   []partition
	taken   []bool
}

// partition is one SM group of a split GPU.
type partition struct {
	green greenCtx // nil in the fallback
	ctx   cu.CUContext
	sms   int
}

var gpus = struct {
	sync.Mutex
	m map[int]*gpuState
}{m: map[int]*gpuState{}}

// OpenGPUs is how many GPUs have a device open: 0 once every device is
// closed, when no context or memory of this package is left on any GPU.
func OpenGPUs() int {
	gpus.Lock()
	defer gpus.Unlock()
	return len(gpus.m)
}

// open opens one device named by device.Expand: cuda:N, cuda:N/K#i or
// cuda:N/[S0,S1,…]#i.
func open(n device.Name, opt device.Options) (device.Device, error) {
	name := n.String()
	gpus.Lock()
	defer gpus.Unlock()
	g, err := gpuOf(n.Index, name)
	if err != nil {
		return nil, err
	}
	g.refs++ // released by the device's Close, or below on an error
	d, err := g.open(n, name, opt)
	if err != nil {
		g.refs--
		g.releaseIfUnused()
		return nil, err
	}
	return d, nil
}

// gpuOf returns GPU i's state, retaining its primary context on first use.
// The registry's lock is held.
func gpuOf(i int, name string) (*gpuState, error) {
	if g, ok := gpus.m[i]; ok {
		return g, nil
	}
	n, err := cu.NumDevices()
	if err != nil {
		return nil, field.Errorf("devices", "{devices} %s: the CUDA driver cannot list GPUs: %w", name, check("cuDeviceGetCount", err))
	}
	if i >= n {
		have := "no GPU"
		switch n {
		case 0:
		case 1:
			have = "1 GPU (cuda:0)"
		default:
			have = fmt.Sprintf("%d GPUs (cuda:0 to cuda:%d)", n, n-1)
		}
		return nil, unavailable("{devices} %s: there is no GPU %d; this machine has %s", name, i, have)
	}
	g := &gpuState{index: i}
	if g.dev, err = cu.GetDevice(i); err != nil {
		return nil, field.Errorf("devices", "{devices} %s: %w", name, check(fmt.Sprintf("cuDeviceGet(%d)", i), err))
	}
	if g.facts, err = deviceFacts(g.dev); err != nil {
		return nil, field.Errorf("devices", "{devices} %s: %w", name, err)
	}
	if g.primary, err = g.dev.RetainPrimaryCtx(); err != nil {
		return nil, field.Errorf("devices", "{devices} %s: GPU %d (%s): %w", name, i, g.facts.name, check("cuDevicePrimaryCtxRetain", err))
	}
	gpus.m[i] = g
	return g, nil
}

// unavailable is a {devices} error that names a device this machine cannot
// give: a bad setting, not a driver's failure.
func unavailable(format string, args ...any) error {
	return &device.Unavailable{Err: field.Errorf("devices", format, args...)}
}

// open makes the device n of g. The registry's lock is held.
func (g *gpuState) open(n device.Name, name string, opt device.Options) (*Device, error) {
	splitAs := n
	splitAs.Part = -1
	if n.Parts == 0 {
		if g.splitAs.Parts != 0 {
			return nil, unavailable("{devices} %s: GPU %d is already split as %s", name, g.index, g.splitAs)
		}
		if g.refs > 1 {
			return nil, unavailable("{devices} %s: GPU %d is already open", name, g.index)
		}
		return g.newDevice(name, -1, "primary", g.primary, g.facts.sms, opt)
	}
	if g.splitAs.Parts == 0 {
		if g.refs > 1 {
			return nil, unavailable("{devices} %s: GPU %d is already open whole", name, g.index)
		}
		if err := g.makeSplit(splitAs); err != nil {
			return nil, err
		}
	} else if g.splitAs != splitAs {
		return nil, unavailable("{devices} %s: GPU %d is already split as %s", name, g.index, g.splitAs)
	}
	if n.Part < 0 {
		return nil, unavailable("{devices} %s: name one partition, as in %s#0", name, name)
	}
	if g.taken[n.Part] {
		return nil, unavailable("{devices} %s is listed twice; each stage needs its own device", name)
	}
	p := g.split[n.Part]
	mode := "green"
	if p.green == nil {
		mode = "stream"
	}
	d, err := g.newDevice(name, n.Part, mode, p.ctx, p.sms, opt)
	if err != nil {
		return nil, err
	}
	g.taken[n.Part] = true
	return d, nil
}

// newDevice makes streams, allocator and kernels on ctx. On an error
// everything it made is freed, and the caller still holds its reference to g.
func (g *gpuState) newDevice(name string, part int, mode string, ctx cu.CUContext, sms int, opt device.Options) (d *Device, err error) {
	d = &Device{name: name, gpu: g, part: part, mode: mode, ctx: ctx, sms: sms,
		routes: map[*Device]*route{}, stats: map[string]*device.TransferStat{}}
	defer func() {
		if err != nil {
			d.free()
			err = &DeviceError{Device: name, Err: err}
		}
	}()
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	prev := ctxCurrent()
	if err := setCurrent(ctx); err != nil {
		return d, err
	}
	defer cu.SetCurrentContext(prev)
	if d.compute, err = cu.MakeStream(cu.NonBlocking); err != nil {
		return d, fmt.Errorf("compute stream: %w", check("cuStreamCreate", err))
	}
	if d.copy, err = cu.MakeStream(cu.NonBlocking); err != nil {
		return d, fmt.Errorf("copy stream: %w", check("cuStreamCreate", err))
	}
	d.alloc = kcuda.NewAllocator(ctx, name)
	ops, err := kcuda.New(ctx, d.compute, d.alloc, opt.Precision)
	var le *kcuda.LibraryError
	switch {
	case errors.As(err, &le):
		return d, le
	case err != nil:
		return d, fmt.Errorf("kernels: %w", err)
	}
	ops.SetBF16Rounding(opt.StochasticRounding, opt.Seed)
	d.ops = &deviceOps{Ops: ops, d: d}
	return d, nil
}

// release forgets d; the GPU's last device releases the GPU.
func (g *gpuState) release(d *Device) {
	if g == nil {
		return
	}
	gpus.Lock()
	defer gpus.Unlock()
	if d.part >= 0 && d.part < len(g.taken) {
		g.taken[d.part] = false
	}
	g.refs--
	g.releaseIfUnused()
}

// releaseIfUnused destroys the green contexts and releases the primary
// context once no device of g is open. The registry's lock is held.
func (g *gpuState) releaseIfUnused() {
	if g.refs > 0 {
		return
	}
	for _, p := range g.split {
		if p.green != nil {
			greenDestroy(p.green)
		}
	}
	g.split, g.taken, g.splitAs = nil, nil, device.Name{}
	g.dev.ReleasePrimaryCtx()
	delete(gpus.m, g.index)
}
