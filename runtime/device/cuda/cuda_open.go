//go:build cuda

// Opening CUDA devices: the per-GPU registry, SM partitions with green contexts (or streams of one context), cuBLAS priming, and release.

package cuda

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"sort"
	"sync"

	"baton/kernels/cuda"
)

// newDevice makes streams, allocator and kernels on ctx. On an error
// everything it made is freed, and the caller still holds its reference to g.
func (g *gpuState) newDevice(name string, part int, mode string, ctx cuContext, sms int) (d *CUDADevice, err error) {
	d = &CUDADevice{name: name, gpu: g, part: part, mode: mode, ctx: ctx, sms: sms,
		routes: map[*CUDADevice]*route{}, stats: map[string]*TransferStat{}}
	defer func() {
		if err != nil {
			d.free()
			err = &DeviceError{Device: name, Err: err}
		}
	}()
	prec, err := cuda.ParsePrecision(CUDAPrecision)
	if err != nil {
		return d, fmt.Errorf("--precision: %w", err)
	}
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	prev := ctxCurrent()
	if err := ctxSetCurrent(ctx); err != nil {
		return d, err
	}
	defer ctxSetCurrent(prev)
	if d.compute, err = streamCreate(); err != nil {
		return d, fmt.Errorf("compute stream: %w", err)
	}
	if d.copy, err = streamCreate(); err != nil {
		return d, fmt.Errorf("copy stream: %w", err)
	}
	d.alloc = cuda.NewAllocator(d.Context(), name)
	ops, err := cuda.New(d.Context(), d.Stream(), d.alloc, prec)
	if err != nil {
		return d, fmt.Errorf("kernels: %w", err)
	}
	d.ops = &deviceOps{Ops: ops, d: d}
	return d, nil
}

// gpuState is one GPU as the open devices share it: its primary context,
// and its split into green contexts when it is partitioned.
type gpuState struct {
	index int
	dev   cuDevice
	facts gpuFacts
	refs  int // open devices on this GPU
	// primary is retained while any device of the GPU is open: a whole-GPU
	// device runs on it, fallback partitions share it, and the first cuBLAS
	// handle of a split GPU is made on it (see primeCuBLAS).
	primary cuContext
	parts   int // 0: used whole; K: split into K partitions
	split   []partition
	taken   []bool
}

// partition is one SM group of a split GPU.
type partition struct {
	green greenCtx // nil in the fallback
	ctx   cuContext
	sms   int
}

var gpus = struct {
	sync.Mutex
	m map[int]*gpuState
}{m: map[int]*gpuState{}}

// openCUDA opens one device named by ExpandDevices: "cuda:N" or "cuda:N/K#i".
func openCUDA(name string) ([]Device, error) {
	c, err := ParseCUDAName(name)
	if err != nil {
		return nil, err
	}
	gpus.Lock()
	defer gpus.Unlock()
	g, err := gpuOf(c.GPU, name)
	if err != nil {
		return nil, err
	}
	g.refs++ // released by the device's Close, or below on an error
	d, err := g.open(c, name)
	if err != nil {
		g.refs--
		g.releaseIfUnused()
		return nil, err
	}
	return []Device{d}, nil
}

// gpuOf returns GPU i's state, retaining its primary context on first use.
// The registry's lock is held.
func gpuOf(i int, name string) (*gpuState, error) {
	if g, ok := gpus.m[i]; ok {
		return g, nil
	}
	n, err := deviceCount()
	if err != nil {
		return nil, fmt.Errorf("--devices %s: the CUDA driver cannot list GPUs: %w", name, err)
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
		return nil, fmt.Errorf("--devices %s: there is no GPU %d; this machine has %s", name, i, have)
	}
	g := &gpuState{index: i}
	if g.dev, err = deviceGet(i); err != nil {
		return nil, fmt.Errorf("--devices %s: %w", name, err)
	}
	if g.facts, err = deviceFacts(g.dev); err != nil {
		return nil, fmt.Errorf("--devices %s: %w", name, err)
	}
	if g.primary, err = primaryRetain(g.dev); err != nil {
		return nil, fmt.Errorf("--devices %s: GPU %d (%s): %w", name, i, g.facts.name, err)
	}
	gpus.m[i] = g
	return g, nil
}

// open makes the device c of g. The registry's lock is held.
func (g *gpuState) open(c CUDAName, name string) (*CUDADevice, error) {
	if c.Parts == 0 {
		if g.parts != 0 {
			return nil, fmt.Errorf("--devices %s: GPU %d is already split into %d partitions", name, g.index, g.parts)
		}
		if g.refs > 1 {
			return nil, fmt.Errorf("--devices %s: GPU %d is already open", name, g.index)
		}
		return g.newDevice(name, -1, "primary", g.primary, g.facts.sms)
	}
	if g.parts == 0 {
		if g.refs > 1 {
			return nil, fmt.Errorf("--devices %s: GPU %d is already open whole", name, g.index)
		}
		if err := g.makeSplit(c.Parts); err != nil {
			return nil, err
		}
	} else if g.parts != c.Parts {
		return nil, fmt.Errorf("--devices %s: GPU %d is already split into %d partitions", name, g.index, g.parts)
	}
	if c.Part < 0 {
		return nil, fmt.Errorf("--devices %s: name one partition, as in %s#0", name, name)
	}
	if g.taken[c.Part] {
		return nil, fmt.Errorf("--devices %s is listed twice; each stage needs its own device", name)
	}
	p := g.split[c.Part]
	mode := "green"
	if p.green == nil {
		mode = "stream"
	}
	d, err := g.newDevice(name, c.Part, mode, p.ctx, p.sms)
	if err != nil {
		return nil, err
	}
	g.taken[c.Part] = true
	return d, nil
}

// noGreenEnv, when set, makes cuda:N/K use streams of one context instead of
// green contexts (to compare the two, or to get around a driver's bug).
const noGreenEnv = "BATON_NO_GREEN_CONTEXTS"

// makeSplit splits g into k partitions: green contexts of equal SM groups
// where the driver has them, else k streams of the primary context. The
// first cuBLAS handle is made on the primary context before any partition's.
func (g *gpuState) makeSplit(k int) error {
	spec := fmt.Sprintf("cuda:%d/%d", g.index, k)
	if err := g.primeCuBLAS(); err != nil {
		return fmt.Errorf("--devices %s: %w", spec, err)
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
		return fmt.Errorf("--devices %s: GPU %d (%s) has %d SMs; split it into at most %d partitions", spec, g.index, g.facts.name, g.facts.sms, g.facts.sms)
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
type tooManyPartitions struct{ msg string }

func (e *tooManyPartitions) Error() string { return e.msg }

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
		return nil, &tooManyPartitions{fmt.Sprintf("--devices %s: GPU %d (%s) has %d SMs and green contexts split it into at most %d partitions; use cuda:%d/%d or fewer",
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
func maxGreenPartitions(d cuDevice) (int, error) {
	if err := greenAvailable(); err != nil {
		return 0, err
	}
	var first error
	for minCount := 1; minCount <= 16; minCount++ { // the first size the driver takes is its smallest
		s, err := splitSMs(d, MaxPartitions, minCount)
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
	if _, err := primaryRetain(g.dev); err != nil {
		return err
	}
	if err := cuda.PrimeCublas(asCU(g.primary)); err != nil {
		primaryRelease(g.dev)
		return fmt.Errorf("the first cuBLAS handle, on the primary context: %w", err)
	}
	primed[g.index] = true
	return nil
}

// primed are the GPUs whose primary context holds the first cuBLAS handle.
var primed = map[int]bool{}

// release forgets d; the GPU's last device releases the GPU.
func (g *gpuState) release(d *CUDADevice) {
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
	g.split, g.taken, g.parts = nil, nil, 0
	primaryRelease(g.dev)
	delete(gpus.m, g.index)
}

// newContextDevice opens GPU i on a plain context of its own, beside any
// other: for the tests that compare contexts (which time-slice) with green
// contexts (which run side by side).
func newContextDevice(i int, name string) (*CUDADevice, error) {
	gpus.Lock()
	defer gpus.Unlock()
	g, err := gpuOf(i, name)
	if err != nil {
		return nil, err
	}
	g.refs++
	ctx, err := ctxCreate(g.dev)
	if err != nil {
		g.refs--
		g.releaseIfUnused()
		return nil, &DeviceError{Device: name, Err: err}
	}
	d, err := g.newDevice(name, -1, "context", ctx, g.facts.sms)
	if err != nil {
		ctxDestroy(ctx)
		g.refs--
		g.releaseIfUnused()
		return nil, err
	}
	d.own = ctx
	return d, nil
}

// listGPUs describes every GPU without opening a context on any.
func listGPUs() ([]DeviceInfo, string, error) {
	n, err := deviceCount()
	if err != nil {
		return nil, "", err
	}
	driver := ""
	if v, err := driverVersion(); err == nil {
		driver = fmt.Sprintf("CUDA %d.%d", v/1000, v%1000/10)
	}
	devs := make([]cuDevice, n)
	out := make([]DeviceInfo, n)
	for i := range n {
		if devs[i], err = deviceGet(i); err != nil {
			return nil, driver, err
		}
		f, err := deviceFacts(devs[i])
		if err != nil {
			return nil, driver, fmt.Errorf("GPU %d: %w", i, err)
		}
		out[i] = DeviceInfo{Kind: "cuda", Name: fmt.Sprintf("cuda:%d", i), Index: i, Model: f.name,
			Compute: fmt.Sprintf("%d.%d", f.major, f.minor), SMs: f.sms, Memory: f.memory}
		if most, err := maxGreenPartitions(devs[i]); err != nil {
			out[i].Note = "cuda:N/K uses streams of one context: " + err.Error()
		} else {
			out[i].MaxPartitions = most
		}
	}
	for i := range n {
		out[i].Peer = make([]bool, n)
		for j := range n {
			if i == j {
				out[i].Peer[j] = true
				continue
			}
			if out[i].Peer[j], err = canAccessPeer(devs[i], devs[j]); err != nil {
				return nil, driver, fmt.Errorf("GPU %d → GPU %d: %w", i, j, err)
			}
		}
	}
	return out, driver, nil
}

// Transfers are the device's copies into each peer since it was opened, as
// of its last Sync: path, bytes and time on the copy stream.
func (d *CUDADevice) Transfers() []TransferStat {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]TransferStat, 0, len(d.stats))
	for _, s := range d.stats {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].To < out[j].To })
	return out
}
