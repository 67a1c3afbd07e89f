//go:build cuda

// Test fixtures of the package: TestMain (which skips everything without a GPU) and the
// Ops every test shares, on the primary context of GPU 0.

package cuda

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"gorgonia.org/cu"

	"baton/kernels"
)

// gpu is what TestMain sets up: GPU 0's primary context, one allocator, and an Ops per
// precision, each on its own non-blocking stream.
var gpu struct {
	dev   cu.Device
	ctx   cu.CUContext
	alloc *Allocator
	ops   map[kernels.Precision]*Ops
}

// TestMain runs the tests on GPU 0. cuInit runs in package inits (internal/cudainit's,
// then gorgonia.org/cu's), which exit when it fails, so without a driver or a device this
// binary stops before TestMain, saying why; should the driver start and list no device,
// TestMain skips every test with a message.
func TestMain(m *testing.M) {
	n, err := cu.NumDevices()
	if err != nil || n == 0 {
		fmt.Fprintf(os.Stderr, "kernels/cuda: no CUDA device (%d devices, %v): skipping all tests\n", n, err)
		os.Exit(0)
	}
	if err := setupGPU(); err != nil {
		fmt.Fprintln(os.Stderr, "kernels/cuda: setup:", err)
		os.Exit(1)
	}
	code := m.Run()
	for _, o := range gpu.ops {
		if err := o.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "kernels/cuda: close:", err)
			code = max(code, 1)
		}
	}
	if err := gpu.alloc.Release(); err != nil {
		fmt.Fprintln(os.Stderr, "kernels/cuda: release:", err)
		code = max(code, 1)
	}
	os.Exit(code)
}

func setupGPU() error {
	runtime.LockOSThread()
	var err error
	if gpu.dev, err = cu.GetDevice(0); err != nil {
		return err
	}
	if gpu.ctx, err = gpu.dev.RetainPrimaryCtx(); err != nil {
		return err
	}
	if err := cu.SetCurrentContext(gpu.ctx); err != nil {
		return err
	}
	gpu.alloc = NewAllocator(gpu.ctx, "cuda:0")
	gpu.ops = map[kernels.Precision]*Ops{}
	for _, p := range []kernels.Precision{kernels.FP32, kernels.TF32, kernels.BF16} {
		s, err := cu.MakeStream(cu.NonBlocking)
		if err != nil {
			return err
		}
		if gpu.ops[p], err = New(gpu.ctx, s, gpu.alloc, p); err != nil {
			return err
		}
	}
	name, _ := gpu.dev.Name()
	fmt.Fprintf(os.Stderr, "kernels/cuda: %s, driver %d, %s, %d kernels\n", name, cu.Version(), CublasLibrary(), len(gpu.ops[kernels.FP32].kernels))
	return nil
}

// testOps returns the shared Ops of precision p, with the test's goroutine locked to
// its thread and the context current there, as a device worker would have it.
func testOps(t testing.TB, p kernels.Precision) *Ops {
	t.Helper()
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	if err := cu.SetCurrentContext(gpu.ctx); err != nil {
		t.Fatal(err)
	}
	return gpu.ops[p]
}

// mustPanic runs f and returns the text of its panic; it fails the test if f returns.
func mustPanic(t *testing.T, f func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("no panic")
		}
		msg = fmt.Sprint(r)
	}()
	f()
	return ""
}
