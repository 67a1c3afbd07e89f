//go:build cuda

// What the CUDA device tests share: opening devices, skipping where the GPU (or cudaemu) cannot show a test's point, and a stand-in kernel of known cost.

package cuda

import (
	_ "embed"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"gorgonia.org/cu"

	"baton/kernels"
	"baton/runtime/device"
)

// busyPTX is testdata/busy.cu compiled by nvcc 11.8 for compute_80.
//
//go:embed testdata/busy.ptx
var busyPTX string

// openList opens a device list as the CLI does: device.Expand, then
// device.Open, in fp32.
func openList(list string) ([]device.Device, error) {
	names, err := device.Expand(list)
	if err != nil {
		return nil, err
	}
	return device.Open(names, device.Options{Precision: kernels.FP32})
}

// openDevices opens a device list for a test, closing it when the test ends.
func openDevices(tb testing.TB, list string) []*Device {
	tb.Helper()
	devs, err := openList(list)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { device.CloseAll(devs) })
	out := make([]*Device, len(devs))
	for i, d := range devs {
		out[i] = d.(*Device)
	}
	return out
}

// contextDevice opens GPU 0 on a plain context of its own for a test.
func contextDevice(tb testing.TB, name string) *Device {
	tb.Helper()
	d, err := newContextDevice(0, name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// needGreen skips a test whose point is SM partitions running side by side.
func needGreen(tb testing.TB, ds []*Device) {
	tb.Helper()
	if ds[0].Mode() != "green" {
		tb.Skipf("%s is a %s partition: green contexts are unavailable here", ds[0].Name(), ds[0].Mode())
	}
}

// needHardware skips a test whose point is how a real GPU times its work:
// on cudaemu (scripts/build-cudaemu.sh), which runs kernels on the host's
// cores, such times say nothing about a GPU.
func needHardware(tb testing.TB, d *Device) {
	tb.Helper()
	if name := d.gpu.facts.name; strings.HasPrefix(name, "cudaemu") {
		tb.Skipf("%s is %s: it times nothing a GPU does", d.Name(), name)
	}
}

// busyBlocksPerSM blocks of busyThreads fill an SM once (2048 threads on Hopper and Ampere).
const busyBlocksPerSM, busyThreads = 8, 256

// busy is the stand-in kernel loaded on one device, sized to fill its SMs once.
type busy struct {
	d      *Device
	fn     cu.Function
	out    cu.DevicePtr
	blocks int
}

func newBusy(tb testing.TB, d *Device) *busy {
	tb.Helper()
	unbind := d.Bind()
	defer unbind()
	mod, err := cu.LoadData(busyPTX)
	if err != nil {
		tb.Fatalf("%s: loading busy.ptx: %v", d.Name(), err)
	}
	fn, err := mod.Function("busy")
	if err != nil {
		tb.Fatalf("%s: %v", d.Name(), err)
	}
	k := &busy{d: d, fn: fn, blocks: d.SMs() * busyBlocksPerSM}
	if k.out, err = cu.MemAlloc(int64(k.blocks) * 4); err != nil {
		tb.Fatalf("%s: %v", d.Name(), err)
	}
	tb.Cleanup(func() {
		unbind := d.Bind()
		defer unbind()
		d.Sync()
		cu.MemFree(k.out)
		mod.Unload()
	})
	return k
}

// launch enqueues the kernel on the device's compute stream.
func (k *busy) launch(tb testing.TB, iters int64) {
	unbind := k.d.Bind()
	defer unbind()
	out := uint64(k.out)
	if err := k.fn.Launch(k.blocks, 1, 1, busyThreads, 1, 1, 0, k.d.Stream(), []unsafe.Pointer{unsafe.Pointer(&out), unsafe.Pointer(&iters)}); err != nil {
		tb.Errorf("%s: launching busy: %v", k.d.Name(), err)
	}
}

// timed runs the kernel alone and returns its time on the device's events.
func (k *busy) timed(tb testing.TB, iters int64) time.Duration {
	a := k.d.Record()
	k.launch(tb, iters)
	b := k.d.Record()
	k.d.Sync()
	return k.d.Elapsed(a, b)
}

// calibrate returns the iterations for a launch of about target.
func (k *busy) calibrate(tb testing.TB, target time.Duration) int64 {
	const probe = 20000
	k.timed(tb, probe) // the first launch JIT-compiles the PTX
	t := k.timed(tb, probe)
	iters := int64(float64(probe) * float64(target) / float64(max(t, time.Microsecond)))
	return max(iters, 1)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// newContextDevice opens GPU i on a plain context of its own, beside any
// other: for the tests that compare contexts (which time-slice) with green
// contexts (which run side by side).
func newContextDevice(i int, name string) (*Device, error) {
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
	d, err := g.newDevice(name, -1, "context", ctx, g.facts.sms, device.Options{})
	if err != nil {
		ctx.Destroy()
		g.refs--
		g.releaseIfUnused()
		return nil, err
	}
	d.own = ctx
	return d, nil
}

// ctxCreate makes a plain (non-primary) context. cuCtxCreate makes it
// current on the calling thread, so it is popped at once: the thread's
// current context is left as it was.
func ctxCreate(d cu.Device) (cu.CUContext, error) {
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	c, err := d.MakeContext(cu.SchedAuto)
	if err != nil {
		return c, check("cuCtxCreate", err)
	}
	if _, err := cu.PopCurrentCtx(); err != nil {
		c.Destroy()
		return cu.CUContext{}, check("cuCtxPopCurrent", err)
	}
	return c, nil
}
