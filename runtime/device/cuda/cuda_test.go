//go:build cuda

// Tests of CUDA devices that need a GPU: a stand-in kernel of known cost, waits timed across partitions, copy paths and their bandwidth, partitions running side by side.

package cuda

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"gorgonia.org/cu"

	"baton/kernels"
)

// busyPTX is testdata/busy.cu compiled by nvcc 11.8 for compute_80.
//
//go:embed testdata/busy.ptx
var busyPTX string

// openDevices opens a device list for a test, closing it when the test ends.
func openDevices(tb testing.TB, list string) []*CUDADevice {
	tb.Helper()
	devs, err := ParseDevices(list)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { closeAll(devs) })
	out := make([]*CUDADevice, len(devs))
	for i, d := range devs {
		out[i] = d.(*CUDADevice)
	}
	return out
}

// contextDevice opens GPU 0 on a plain context of its own for a test.
func contextDevice(tb testing.TB, name string) *CUDADevice {
	tb.Helper()
	d, err := newContextDevice(0, name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

func asDevices(ds []*CUDADevice) []Device {
	out := make([]Device, len(ds))
	for i, d := range ds {
		out[i] = d
	}
	return out
}

// needGreen skips a test whose point is SM partitions running side by side.
func needGreen(tb testing.TB, ds []*CUDADevice) {
	tb.Helper()
	if ds[0].Mode() != "green" {
		tb.Skipf("%s is a %s partition: green contexts are unavailable here", ds[0].Name(), ds[0].Mode())
	}
}

// needHardware skips a test whose point is how a real GPU times its work:
// on cudaemu (scripts/build-cudaemu.sh), which runs kernels on the host's
// cores, such times say nothing about a GPU.
func needHardware(tb testing.TB, d *CUDADevice) {
	tb.Helper()
	if name := d.gpu.facts.name; strings.HasPrefix(name, "cudaemu") {
		tb.Skipf("%s is %s: it times nothing a GPU does", d.Name(), name)
	}
}

// busyBlocksPerSM blocks of busyThreads fill an SM once (2048 threads on Hopper and Ampere).
const busyBlocksPerSM, busyThreads = 8, 256

// busy is the stand-in kernel loaded on one device, sized to fill its SMs once.
type busy struct {
	d      *CUDADevice
	fn     cu.Function
	out    cuPtr
	blocks int
}

func newBusy(tb testing.TB, d *CUDADevice) *busy {
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
	if k.out, err = memAlloc(int64(k.blocks) * 4); err != nil {
		tb.Fatalf("%s: %v", d.Name(), err)
	}
	tb.Cleanup(func() {
		unbind := d.Bind()
		defer unbind()
		d.Sync()
		memFree(k.out)
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

// TestCUDAWaitMatchesKernel: partition 1 waits on an event recorded after
// a busy kernel on partition 0; the wait it measures on its own timeline
// must match the kernel's time measured on partition 0's (margin: 5% + 100 µs,
// the host's time between the launch and partition 1's first event).
func TestCUDAWaitMatchesKernel(t *testing.T) {
	ds := openDevices(t, "cuda:0/2")
	d0, d1 := ds[0], ds[1]
	needHardware(t, d0)
	t.Logf("%s: %s, %d SMs; %s: %s, %d SMs", d0.Name(), d0.Mode(), d0.SMs(), d1.Name(), d1.Mode(), d1.SMs())
	k := newBusy(t, d0)
	iters := k.calibrate(t, 20*time.Millisecond)
	var kernels, waits []time.Duration
	for range 5 {
		d0.Sync()
		d1.Sync()
		e0 := d0.Record()
		k.launch(t, iters)
		e1 := d0.Record()
		w0 := d1.Record()
		d1.Wait(e1)
		w1 := d1.Record()
		d0.Sync()
		d1.Sync()
		kernels = append(kernels, d0.Elapsed(e0, e1))
		waits = append(waits, d1.Elapsed(w0, w1))
	}
	kt, wt := median(kernels), median(waits)
	t.Logf("busy kernel on %s: %v (median of %v); %s waited %v (median of %v)", d0.Name(), kt, kernels, d1.Name(), wt, waits)
	margin := kt/20 + 100*time.Microsecond
	if d := wt - kt; d > margin || d < -margin {
		t.Errorf("%s waited %v on a kernel of %v; they should agree within %v", d1.Name(), wt, kt, margin)
	}
}

// TestCUDAPartitionsRunSideBySide: two busy kernels, each sized to its
// partition of cuda:0/2, take about the time of one (ratio < 1.3); two
// kernels sized to the whole GPU on two plain contexts take about twice
// the time of one (ratio > 1.6), since contexts time-slice the GPU.
func TestCUDAPartitionsRunSideBySide(t *testing.T) {
	ratio := func(t *testing.T, a, b *busy) float64 {
		iters := a.calibrate(t, 20*time.Millisecond)
		b.calibrate(t, 20*time.Millisecond)
		wall := func(ks ...*busy) time.Duration {
			for _, k := range ks {
				k.d.Sync()
			}
			t0 := time.Now()
			for _, k := range ks {
				k.launch(t, iters)
			}
			for _, k := range ks {
				k.d.Sync()
			}
			return time.Since(t0)
		}
		var one, two []time.Duration
		for range 5 {
			one = append(one, wall(a))
			two = append(two, wall(a, b))
		}
		r := float64(median(two)) / float64(median(one))
		t.Logf("one kernel %v, two at once %v: ratio %.2f", median(one), median(two), r)
		return r
	}
	t.Run("green partitions", func(t *testing.T) {
		ds := openDevices(t, "cuda:0/2")
		needGreen(t, ds)
		needHardware(t, ds[0])
		if r := ratio(t, newBusy(t, ds[0]), newBusy(t, ds[1])); r > 1.3 {
			t.Errorf("two partitions took %.2f× the time of one; they should run side by side (< 1.3×)", r)
		}
	})
	t.Run("plain contexts", func(t *testing.T) {
		a, b := contextDevice(t, "ctx:a"), contextDevice(t, "ctx:b")
		needHardware(t, a)
		if r := ratio(t, newBusy(t, a), newBusy(t, b)); r < 1.6 {
			t.Errorf("two contexts took %.2f× the time of one; kernels of two contexts should not overlap (> 1.6×)", r)
		}
	})
}

// copyCase is a pair of devices whose copies take one path.
type copyCase struct {
	name string
	path string
	open func(tb testing.TB) (from, to *CUDADevice)
}

// copyCases are the paths one GPU offers: one context, two green
// partitions, two plain contexts, and staged through host memory. Each
// opens its devices for its own (sub)test.
var copyCases = []copyCase{
	{"same context", PathSameContext, func(tb testing.TB) (*CUDADevice, *CUDADevice) {
		d := openDevices(tb, "cuda:0")[0]
		return d, d
	}},
	{"between partitions", PathContexts, func(tb testing.TB) (*CUDADevice, *CUDADevice) {
		ds := openDevices(tb, "cuda:0/2")
		needGreen(tb, ds) // the streams fallback shares one context: the first case's path
		return ds[0], ds[1]
	}},
	{"between contexts", PathContexts, func(tb testing.TB) (*CUDADevice, *CUDADevice) {
		return contextDevice(tb, "ctx:a"), contextDevice(tb, "ctx:b")
	}},
	{"staged", PathStaged, func(tb testing.TB) (*CUDADevice, *CUDADevice) {
		return contextDevice(tb, "ctx:a"), contextDevice(tb, "ctx:b")
	}},
}

// TestCUDACopyPaths: every path delivers the data and is named in the
// device's transfer statistics.
func TestCUDACopyPaths(t *testing.T) {
	for _, c := range copyCases {
		t.Run(c.name, func(t *testing.T) {
			stageAll = c.path == PathStaged
			defer func() { stageAll = false }()
			from, to := c.open(t)
			const n = 1<<20 + 3
			src, dst := from.Ops().Alloc(n), to.Ops().Alloc(n)
			want := make([]float32, n)
			for i := range want {
				want[i] = float32(i%1000) - 0.5
			}
			from.Ops().Upload(src, want)
			for range 3 {
				from.CopyTo(to, dst, src)
			}
			to.Wait(from.Record())
			from.Sync()
			to.Sync()
			got := make([]float32, n)
			to.Ops().Download(got, dst)
			if !slices.Equal(got, want) {
				t.Fatalf("%s → %s: the copy differs from its source", from.Name(), to.Name())
			}
			var st *TransferStat
			for _, s := range from.Transfers() {
				if s.To == to.Name() {
					st = &s
				}
			}
			if st == nil || st.Path != c.path || st.Copies < 3 || st.Bytes < 3*4*n {
				t.Fatalf("%s → %s: transfer statistics %+v; want path %q and 3 copies", from.Name(), to.Name(), st, c.path)
			}
			t.Log(st)
		})
	}
}

// BenchmarkCUDACopy times 64 MiB copies on each path with the copy stream's
// events. GPU.md's baselines on the H100: 1475 GB/s for a peer copy between
// two plain contexts of the GPU, about 940 GB/s between green partitions.
func BenchmarkCUDACopy(b *testing.B) {
	for _, c := range copyCases {
		b.Run(strings.ReplaceAll(c.name, " ", "-"), func(b *testing.B) {
			stageAll = c.path == PathStaged
			defer func() { stageAll = false }()
			from, to := c.open(b)
			const n = 16 << 20 // floats: 64 MiB
			src, dst := from.Ops().Alloc(n), to.Ops().Alloc(n)
			from.CopyTo(to, dst, src)
			from.Sync()
			before := statTo(from, to)
			b.SetBytes(4 * n)
			b.ResetTimer()
			for range b.N {
				from.CopyTo(to, dst, src)
			}
			from.Sync()
			b.StopTimer()
			after := statTo(from, to)
			bytes, secs := after.Bytes-before.Bytes, after.Seconds-before.Seconds
			if secs > 0 {
				b.ReportMetric(float64(bytes)/secs/1e9, "GB/s(events)")
			}
			b.Logf("%s → %s: %s", from.Name(), to.Name(), after.Path)
		})
	}
}

func statTo(from, to *CUDADevice) TransferStat {
	for _, s := range from.Transfers() {
		if s.To == to.Name() {
			return s
		}
	}
	return TransferStat{}
}

// TestCUDABadInput: a GPU that does not exist, more partitions than the GPU
// allows, a GPU listed whole and split: one line naming the device and the
// problem, and nothing left open.
func TestCUDABadInput(t *testing.T) {
	n, err := deviceCount()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ list, msg string }{
		{fmt.Sprintf("cuda:%d", n), fmt.Sprintf("there is no GPU %d", n)},
		{"cuda:0/2,cuda:7", "there is no GPU 7"},
		{"cuda:0/256", "at most"},
		{"cuda:0/999", "from 1 to 256"},
		{"cuda:0,cuda:0/4", "both whole"},
		{"cuda:0/2,cuda:0/4", "split both"},
		{"cuda:0/2#1,cuda:0/2#1", "listed twice"},
		{"cpu:0,cuda:0", "cannot be mixed"},
	} {
		devs, err := ParseDevices(c.list)
		if err == nil {
			closeAll(devs)
			t.Errorf("--devices %s: no error", c.list)
			continue
		}
		if !strings.Contains(err.Error(), c.msg) || strings.Contains(err.Error(), "\n") {
			t.Errorf("--devices %s: %q; want one line containing %q", c.list, err, c.msg)
		}
		gpus.Lock()
		open := len(gpus.m)
		gpus.Unlock()
		if open != 0 {
			t.Errorf("--devices %s: %d GPUs still held after the error", c.list, open)
		}
		t.Logf("--devices %s: %v", c.list, err)
	}
}

// TestCUDACloseTwice: Close is idempotent and releases the GPU.
func TestCUDACloseTwice(t *testing.T) {
	devs, err := ParseDevices("cuda:0/2")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		for _, d := range devs {
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	gpus.Lock()
	defer gpus.Unlock()
	if len(gpus.m) != 0 {
		t.Fatalf("%d GPUs still held after closing every device", len(gpus.m))
	}
}

// TestCUDAListDevices: the listing names GPU 0 with its SMs and memory.
func TestCUDAListDevices(t *testing.T) {
	infos, driver, err := ListDevices()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("driver %s", driver)
	for _, in := range infos {
		t.Logf("%+v", in)
	}
	if len(infos) < 2 || infos[0].Name != "cuda:0" || infos[0].SMs < 1 || infos[0].Memory <= 0 || !infos[0].Peer[0] {
		t.Fatalf("no sensible GPU 0 in %+v", infos)
	}
	if infos[len(infos)-1].Kind != "cpu" {
		t.Fatalf("the virtual CPU devices are missing from %+v", infos)
	}
}

var _ kernels.Buffer // the stand-in stages' buffers
