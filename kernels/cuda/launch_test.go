//go:build cuda

// Tests of kernel launching: the parameter layout read from PTX, 1-D and 2-D launches
// with scalars of every size, and the panics for a missing kernel, a wrong argument
// count and a bad grid.

package cuda

import (
	_ "embed"
	"strings"
	"testing"
	"unsafe"

	"baton/kernels"
)

// fill2dPTX is testdata/fill2d.cu compiled by nvcc 11.8 for compute_80.
//
//go:embed testdata/fill2d.ptx
var fill2dPTX string

func TestParsePTXEntries(t *testing.T) {
	es, err := parsePTXEntries(fill2dPTX + `
.visible .entry noargs()
{
	ret;
}
.entry hidden(
	.param .u64 hidden_param_0
)
{
	ret;
}
.visible .entry withstruct(
	.param .align 4 .b8 withstruct_param_0[16],
	.param .u64 .ptr .global .align 4 withstruct_param_1
)
{
	ret;
}
`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int{"baton_test_fill2d": {8, 4, 4, 4, 8, 2}, "noargs": nil, "withstruct": {16, 8}}
	if len(es) != len(want) {
		t.Fatalf("entries %v, want %v", es, want)
	}
	for _, e := range es {
		w, ok := want[e.name]
		if !ok || len(w) != len(e.sizes) {
			t.Fatalf("entry %s %v, want %v", e.name, e.sizes, w)
		}
		for i := range w {
			if w[i] != e.sizes[i] {
				t.Fatalf("entry %s %v, want %v", e.name, e.sizes, w)
			}
		}
	}
	// Every embedded module parses and every kernel resolved.
	mods, err := embeddedModules()
	if err != nil {
		t.Fatal(err)
	}
	o := testOps(t, kernels.FP32)
	for _, m := range mods {
		es, err := parsePTXEntries(m.ptx)
		if err != nil {
			t.Errorf("%s: %v", m.name, err)
		}
		for _, e := range es {
			if o.kernels[e.name] == nil {
				t.Errorf("%s: kernel %s not loaded", m.name, e.name)
			}
		}
	}
}

// loadFill2d adds the test kernel to o once.
func loadFill2d(t *testing.T, o *Ops) {
	if o.kernels["baton_test_fill2d"] != nil {
		return
	}
	if err := o.loadModule("fill2d_test.ptx", fill2dPTX); err != nil {
		t.Fatal(err)
	}
}

func TestLaunch(t *testing.T) {
	o := testOps(t, kernels.FP32)
	loadFill2d(t, o)
	const W, H = 100, 37
	out := o.Alloc(W * H)
	defer o.Allocator().Free(out.(Buf))
	p := dptr("TestLaunch", out)
	w, h, base, tag, s := int32(W), int32(H), float32(0.5), int64(1_000_000_000_007), int16(3)
	args := []unsafe.Pointer{unsafe.Pointer(&p), unsafe.Pointer(&w), unsafe.Pointer(&h),
		unsafe.Pointer(&base), unsafe.Pointer(&tag), unsafe.Pointer(&s)}
	check := func(name string) {
		t.Helper()
		got := make([]float32, W*H)
		o.Download(got, out)
		for i, v := range got {
			if want := 0.5 + float32(i) + 7 + 3; v != want {
				t.Fatalf("%s: [%d] = %v, want %v", name, i, v, want)
			}
		}
		o.Zero(out)
	}
	o.launch2("TestLaunch", "baton_test_fill2d", (W+15)/16, (H+7)/8, 16, 8, 0, args...)
	check("launch2")
	// A grid of (4, H) blocks of 32 threads: 128 >= W columns per row.
	o.launch2("TestLaunch", "baton_test_fill2d", 4, H, 32, 1, 0, args...)
	check("launch2 (4, H)")
	h1 := int32(1)
	row := []unsafe.Pointer{args[0], args[1], unsafe.Pointer(&h1), args[3], args[4], args[5]}
	o.launch("TestLaunch", "baton_test_fill2d", 1, 128, 0, row...) // 1-D: row 0 only
	got := make([]float32, W)
	o.Download(got, o.Slice(out, 0, W))
	for i, v := range got {
		if want := 0.5 + float32(i) + 10; v != want {
			t.Fatalf("launch: [%d] = %v, want %v", i, v, want)
		}
	}
	// Dynamic shared memory above 48 KiB is opted into (the kernel uses none of it).
	o.launch2("TestLaunch", "baton_test_fill2d", (W+15)/16, (H+7)/8, 16, 8, 64<<10, args...)
	check("launch2 with 64 KiB shared")
}

func TestLaunchErrors(t *testing.T) {
	o := testOps(t, kernels.FP32)
	loadFill2d(t, o)
	var x int32
	for _, c := range []struct {
		f    func()
		want string
	}{
		{func() { o.launch("SomeOp", "no_such_kernel", 1, 1, 0) }, `cuda: SomeOp: launch no_such_kernel: no kernel "no_such_kernel"`},
		{func() { o.launch("SomeOp", "baton_test_fill2d", 1, 1, 0, unsafe.Pointer(&x)) }, "1 arguments for the 6 parameters"},
		{func() { o.launch("SomeOp", "baton_test_fill2d", 0, 1, 0, make([]unsafe.Pointer, 6)...) }, "invalid geometry"},
		{func() { o.launch("SomeOp", "baton_test_fill2d", 1, 2048, 0, make([]unsafe.Pointer, 6)...) }, "invalid geometry"},
	} {
		if msg := mustPanic(t, c.f); !strings.Contains(msg, c.want) {
			t.Errorf("panic %q, want %q", msg, c.want)
		}
	}
	// A launch the driver refuses: more shared memory than the GPU has.
	p := dptr("x", o.Alloc(1))
	one, f := int32(1), float32(0)
	var tag int64
	var s int16
	args := []unsafe.Pointer{unsafe.Pointer(&p), unsafe.Pointer(&one), unsafe.Pointer(&one), unsafe.Pointer(&f), unsafe.Pointer(&tag), unsafe.Pointer(&s)}
	msg := mustPanic(t, func() { o.launch("SomeOp", "baton_test_fill2d", 1, 1, 1<<30, args...) })
	if !strings.Contains(msg, "cuda: SomeOp: launch baton_test_fill2d:") || !strings.Contains(msg, "CUDA_ERROR") {
		t.Errorf("refused launch: %q", msg)
	}
	if err := o.Sync(); err != nil {
		t.Fatalf("the refused launch left an error behind: %v", err)
	}
}
