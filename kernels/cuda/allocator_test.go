//go:build cuda

// Tests of the allocator and the memory methods: size classes, reuse and accounting,
// out-of-memory errors, zeroing, uploads through the staging slots, and allocation from
// a thread with another context current.

package cuda

import (
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"

	"gorgonia.org/cu"

	"baton/kernels"
	"baton/kernels/cpu"
	"baton/model"
)

// TestRoundBytes also holds the size classes to model.CUDABlockBytes, by
// which the plan's memory estimate rounds every buffer as this allocator does.
func TestRoundBytes(t *testing.T) {
	for _, n := range []int64{1, 4, 511, 512, 513, 4000, 1 << 20, 1<<20 + 1, 3 << 20, 1<<30 - 7, 5 << 30} {
		r := roundBytes(n)
		if r < n || r%512 != 0 || r-n > max(511, n/16) {
			t.Errorf("roundBytes(%d) = %d: below, unaligned or wasting more than 1/16", n, r)
		}
		if m := model.CUDABlockBytes(n); m != r {
			t.Errorf("roundBytes(%d) = %d, but the memory estimate rounds it to %d (model.CUDABlockBytes)", n, r, m)
		}
		if roundBytes(r) != r {
			t.Errorf("roundBytes(%d) = %d is not a fixed point", r, roundBytes(r))
		}
	}
}

func TestAllocatorReuseAndAccounting(t *testing.T) {
	testOps(t, kernels.FP32)
	a := NewAllocator(gpu.ctx, "test")
	defer a.Release()
	b1, err := a.TryAlloc(1000) // 4000 B → 4096
	if err != nil {
		t.Fatal(err)
	}
	if a.Live() != 4096 || a.Peak() != 4096 || a.Mallocs() != 1 {
		t.Fatalf("after one alloc: live %d peak %d mallocs %d, want 4096 4096 1", a.Live(), a.Peak(), a.Mallocs())
	}
	a.Free(b1)
	if a.Live() != 0 || a.Cached() != 4096 || a.Peak() != 4096 {
		t.Fatalf("after free: live %d cached %d peak %d", a.Live(), a.Cached(), a.Peak())
	}
	b2, err := a.TryAlloc(1020) // same class
	if err != nil {
		t.Fatal(err)
	}
	if b2.Ptr != b1.Ptr || a.Mallocs() != 1 || a.Cached() != 0 {
		t.Fatalf("same size class not reused: %v vs %v, %d mallocs, %d cached", b2.Ptr, b1.Ptr, a.Mallocs(), a.Cached())
	}
	b3, err := a.TryAlloc(3 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if a.Mallocs() != 2 || a.Live() != 4096+roundBytes(12<<20) || a.Peak() != a.Live() {
		t.Fatalf("second class: mallocs %d live %d peak %d", a.Mallocs(), a.Live(), a.Peak())
	}
	a.Free(b3)
	a.ResetPeak()
	if a.Peak() != 4096 {
		t.Fatalf("ResetPeak: peak %d, want 4096", a.Peak())
	}
	// Steady state: the same requests again allocate nothing.
	for i := 0; i < 10; i++ {
		b, err := a.TryAlloc(3 << 20)
		if err != nil {
			t.Fatal(err)
		}
		a.Free(b)
	}
	if a.Mallocs() != 2 {
		t.Fatalf("steady state called cuMemAlloc: %d mallocs", a.Mallocs())
	}
	if err := a.Trim(); err != nil || a.Cached() != 0 {
		t.Fatalf("Trim: %v, %d cached", err, a.Cached())
	}
	if err := a.Release(); err != nil || a.Live() != 0 {
		t.Fatalf("Release: %v, %d live", err, a.Live())
	}
}

func TestAllocatorFreeMisuse(t *testing.T) {
	o := testOps(t, kernels.FP32)
	a := NewAllocator(gpu.ctx, "test")
	defer a.Release()
	b, err := a.TryAlloc(256)
	if err != nil {
		t.Fatal(err)
	}
	view := o.Slice(b, 64, 64).(Buf)
	if msg := mustPanic(t, func() { a.Free(view) }); !strings.Contains(msg, "not a live block") {
		t.Errorf("Free of a Slice: %q", msg)
	}
	a.Free(b)
	if msg := mustPanic(t, func() { a.Free(b) }); !strings.Contains(msg, "not a live block") {
		t.Errorf("double Free: %q", msg)
	}
	a.Free(Buf{}) // zero-length: ignored
}

func TestOutOfMemory(t *testing.T) {
	o := testOps(t, kernels.FP32)
	live := o.Allocator().Live()
	const n = 1 << 42 // 16 TiB
	_, err := o.TryAlloc(n)
	if err == nil {
		t.Fatal("16 TiB allocation succeeded")
	}
	if !errors.Is(err, cu.OutOfMemory) {
		t.Errorf("error does not wrap cu.OutOfMemory: %v", err)
	}
	for _, want := range []string{"cuda:0", gpu.ctx.String(), "17592186044416 bytes", "bytes live"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	msg := mustPanic(t, func() { o.Alloc(n) })
	if !strings.Contains(msg, "17592186044416 bytes") {
		t.Errorf("Alloc's panic: %q", msg)
	}
	if o.Allocator().Live() != live {
		t.Errorf("live bytes changed by failed allocations: %d → %d", live, o.Allocator().Live())
	}
	b := o.Alloc(10) // still usable
	o.Allocator().Free(b.(Buf))
}

func TestAllocIsZeroedOnReuse(t *testing.T) {
	o := testOps(t, kernels.FP32)
	const n = 5000
	b := o.Alloc(n).(Buf)
	ones := make([]float32, n)
	for i := range ones {
		ones[i] = 1
	}
	o.Upload(b, ones)
	got := make([]float32, n)
	o.Download(got, b)
	for i, v := range got {
		if v != 1 {
			t.Fatalf("after Upload: [%d] = %v", i, v)
		}
	}
	o.Allocator().Free(b)
	c := o.Alloc(n).(Buf)
	if c.Ptr != b.Ptr {
		t.Fatalf("the freed block was not reused (%v, %v)", c.Ptr, b.Ptr)
	}
	o.Download(got, c)
	for i, v := range got {
		if v != 0 {
			t.Fatalf("reused block not zeroed: [%d] = %v", i, v)
		}
	}
	ib := o.AllocInt(n).(Buf)
	if !ib.Int || ib.Len() != n {
		t.Fatalf("AllocInt: %+v", ib)
	}
	o.Allocator().Free(c)
	o.Allocator().Free(ib)
}

func TestMemoryOps(t *testing.T) {
	o := testOps(t, kernels.FP32)
	// 3 MiB + a bit: the upload takes four staging slots.
	n := 3<<18 + 37
	src := make([]float32, n)
	for i := range src {
		src[i] = float32(i) * 0.5
	}
	a, b := o.Alloc(n), o.Alloc(n)
	o.Upload(a, src)
	o.Copy(b, a)
	got := make([]float32, n)
	o.Download(got, b)
	for i := range got {
		if got[i] != src[i] {
			t.Fatalf("Upload+Copy+Download: [%d] = %v, want %v", i, got[i], src[i])
		}
	}
	// Slices share memory.
	s := o.Slice(b, 100, 50)
	if s.Len() != 50 {
		t.Fatalf("Slice len %d", s.Len())
	}
	o.Zero(s)
	o.Download(got, b)
	for i := range got {
		want := src[i]
		if i >= 100 && i < 150 {
			want = 0
		}
		if got[i] != want {
			t.Fatalf("Zero of a Slice: [%d] = %v, want %v", i, got[i], want)
		}
	}
	part := make([]float32, 10)
	o.Download(part, o.Slice(a, n-10, 10))
	for i, v := range part {
		if v != src[n-10+i] {
			t.Fatalf("Download of a Slice: [%d] = %v", i, v)
		}
	}
	// Int buffers: upload, copy, and read back through a float32 view of the bits.
	ints := []int32{1, -2, 3, 1 << 30, -1 << 31}
	ia, ib := o.AllocInt(len(ints)), o.AllocInt(len(ints))
	o.UploadInt(ia, ints)
	o.Copy(ib, ia)
	bits := make([]float32, len(ints))
	o.Download(bits, Buf{Ptr: ib.(Buf).Ptr, N: len(ints)})
	for i, v := range bits {
		if int32(math.Float32bits(v)) != ints[i] {
			t.Fatalf("UploadInt+Copy: [%d] = %d, want %d", i, int32(math.Float32bits(v)), ints[i])
		}
	}
	for _, f := range []func(){
		func() { o.Slice(a, n-5, 6) },
		func() { o.Slice(a, -1, 2) },
		func() { o.Upload(a, src[:n-1]) },
		func() { o.Upload(ia, []float32{1, 2, 3, 4, 5}) },
		func() { o.UploadInt(a, make([]int32, n)) },
		func() { o.Download(part, a) },
		func() { o.Copy(ia, a) },
		func() { o.Zero(cpu.F32{1}) },
	} {
		mustPanic(t, f)
	}
	if msg := mustPanic(t, func() { dptr("SomeOp", cpu.F32{1}) }); !strings.Contains(msg, "SomeOp") || !strings.Contains(msg, "cpu.F32") {
		t.Errorf("dptr of a cpu buffer: %q", msg)
	}
	for _, x := range []kernels.Buffer{a, b, ia, ib} {
		o.Allocator().Free(x.(Buf))
	}
}

// TestUploadReusesSourceAtOnce: Upload returns once the data is staged, so the caller
// may overwrite its slice at once, many times over (more uploads than staging slots),
// while the stream is busy.
func TestUploadReusesSourceAtOnce(t *testing.T) {
	o := testOps(t, kernels.FP32)
	const n, k = 70000, 3 * stagingSlots
	busy, out := o.Alloc(4096*4096), o.Alloc(4096*4096)
	defer o.Allocator().Free(busy.(Buf))
	defer o.Allocator().Free(out.(Buf))
	o.Gemm(false, false, 4096, 4096, 4096, 1, busy, busy, 0, out) // keeps the stream busy a while
	src := make([]float32, n)
	bufs := make([]Buf, k)
	for j := range bufs {
		bufs[j] = o.Alloc(n).(Buf)
		for i := range src {
			src[i] = float32(j*n + i)
		}
		o.Upload(bufs[j], src)
		defer o.Allocator().Free(bufs[j])
	}
	clear(src)
	got := make([]float32, n)
	for j, b := range bufs {
		o.Download(got, b)
		for i, v := range got {
			if v != float32(j*n+i) {
				t.Fatalf("upload %d: [%d] = %v, want %v", j, i, v, float32(j*n+i))
			}
		}
	}
}

// TestAllocFromAnotherThread: a neighbour's transfer allocates on this device from its
// own thread, with its own context current: the buffer comes from this device, zeroed,
// and the neighbour's context is current again afterwards.
func TestAllocFromAnotherThread(t *testing.T) {
	o := testOps(t, kernels.FP32)
	type result struct {
		b           Buf
		before, aft cu.CUContext
		err         error
	}
	done := make(chan result)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var r result
		defer func() { done <- r }()
		other, err := gpu.dev.MakeContext(cu.SchedAuto) // current on this thread
		if err != nil {
			r.err = err
			return
		}
		defer other.Destroy()
		r.before, _ = cu.CurrentContext()
		r.b = o.Alloc(1 << 20).(Buf)
		r.aft, _ = cu.CurrentContext()
	}()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.before != r.aft {
		t.Errorf("the other thread's context changed from %v to %v", r.before, r.aft)
	}
	if r.before == gpu.ctx {
		t.Fatal("the test did not make another context current")
	}
	got := make([]float32, 1<<20)
	o.Download(got, r.b)
	for i, v := range got {
		if v != 0 {
			t.Fatalf("[%d] = %v, want 0", i, v)
		}
	}
	o.Allocator().Free(r.b)
}
