//go:build cuda

// Copies between CUDA devices on every path one GPU offers: the data delivered, the path named in the statistics, and the bandwidth.

package cuda

import (
	"slices"
	"strings"
	"testing"

	"baton/runtime/device"
)

// copyCase is a pair of devices whose copies take one path.
type copyCase struct {
	name string
	path string
	open func(tb testing.TB) (from, to *Device)
}

// copyCases are the paths one GPU offers: one context, two green
// partitions, two plain contexts, and staged through host memory. Each
// opens its devices for its own (sub)test.
var copyCases = []copyCase{
	{"same context", PathSameContext, func(tb testing.TB) (*Device, *Device) {
		d := openDevices(tb, "cuda:0")[0]
		return d, d
	}},
	{"between partitions", PathContexts, func(tb testing.TB) (*Device, *Device) {
		ds := openDevices(tb, "cuda:0/2")
		needGreen(tb, ds) // the streams fallback shares one context: the first case's path
		return ds[0], ds[1]
	}},
	{"between contexts", PathContexts, func(tb testing.TB) (*Device, *Device) {
		return contextDevice(tb, "ctx:a"), contextDevice(tb, "ctx:b")
	}},
	{"staged", PathStaged, func(tb testing.TB) (*Device, *Device) {
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
			var st *device.TransferStat
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

func statTo(from, to *Device) device.TransferStat {
	for _, s := range from.Transfers() {
		if s.To == to.Name() {
			return s
		}
	}
	return device.TransferStat{}
}
