//go:build cuda

// Tests of CUDA devices: waits timed across partitions, partitions running side by side, bad device lists, closing, listing.

package cuda

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"gorgonia.org/cu"

	"baton/runtime/device"
)

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

// TestCUDABadInput: a GPU that does not exist, more partitions than the GPU
// allows, a GPU listed whole and split: one line naming the device and the
// problem, and nothing left open.
func TestCUDABadInput(t *testing.T) {
	n, err := cu.NumDevices()
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
		devs, err := openList(c.list)
		if err == nil {
			device.CloseAll(devs)
			t.Errorf("--devices %s: no error", c.list)
			continue
		}
		if !strings.Contains(err.Error(), c.msg) || strings.Contains(err.Error(), "\n") {
			t.Errorf("--devices %s: %q; want one line containing %q", c.list, err, c.msg)
		}
		if open := OpenGPUs(); open != 0 {
			t.Errorf("--devices %s: %d GPUs still held after the error", c.list, open)
		}
		t.Logf("--devices %s: %v", c.list, err)
	}
}

// TestCUDACloseTwice: Close is idempotent and releases the GPU.
func TestCUDACloseTwice(t *testing.T) {
	devs, err := openList("cuda:0/2")
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
	if open := OpenGPUs(); open != 0 {
		t.Fatalf("%d GPUs still held after closing every device", open)
	}
}

// TestCUDAListDevices: the listing names GPU 0 with its SMs, memory and
// UUID (as nvidia-smi writes it), and each GPU by a UUID of its own.
func TestCUDAListDevices(t *testing.T) {
	infos, driver, err := device.List()
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
	seen := map[string]string{}
	for _, in := range infos[:len(infos)-1] {
		if !uuidForm.MatchString(in.UUID) {
			t.Errorf("%s: UUID %q; want GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", in.Name, in.UUID)
		}
		if other, ok := seen[in.UUID]; ok {
			t.Errorf("%s and %s have one UUID, %s", other, in.Name, in.UUID)
		}
		seen[in.UUID] = in.Name
	}
}

var uuidForm = regexp.MustCompile(`^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
