// Memory: the host-slice buffer types, the Ops value, and allocation, views and copies.

// Package cpu is the plain-Go reference backend of kernels.Ops: float32
// storage, deterministic results (bit-identical for any number of worker
// goroutines) and parallelism over the machine's cores for the large ops.
//
// Main types: Ops (the backend), F32 and I32 (its buffers: host slices).
package cpu

import (
	"fmt"
	"runtime"

	"baton/kernels"
)

// F32 is a float32 buffer; on the CPU a buffer is simply a host slice.
type F32 []float32

// Len reports the number of elements.
func (b F32) Len() int { return len(b) }

// I32 is an int32 buffer (token ids, targets).
type I32 []int32

// Len reports the number of elements.
func (b I32) Len() int { return len(b) }

// Floats returns the host slice behind a float32 buffer made by this backend,
// so tests and the runtime can read and write it without copies.
func Floats(b kernels.Buffer) []float32 {
	f, ok := b.(F32)
	if !ok {
		panic(fmt.Sprintf("cpu: buffer is %T, not a cpu.F32", b))
	}
	return f
}

// Ints returns the host slice behind an int32 buffer made by this backend.
func Ints(b kernels.Buffer) []int32 {
	i, ok := b.(I32)
	if !ok {
		panic(fmt.Sprintf("cpu: buffer is %T, not a cpu.I32", b))
	}
	return i
}

// Ops is the CPU backend. It holds no mutable state, so one value may be
// shared by several device goroutines calling it concurrently.
type Ops struct {
	workers int // goroutines an op may use, the caller included
}

var _ kernels.Ops = (*Ops)(nil)

// New returns a backend that uses runtime.GOMAXPROCS(0) goroutines per op.
func New() *Ops { return NewWorkers(runtime.GOMAXPROCS(0)) }

// NewWorkers returns a backend that uses at most n goroutines per op (n < 1
// means 1). Results do not depend on n; tests use it to prove that.
func NewWorkers(n int) *Ops {
	if n < 1 {
		n = 1
	}
	if n > 1 {
		sharedPool.grow(n - 1)
	}
	return &Ops{workers: n}
}

// Workers reports how many goroutines an op may use.
func (o *Ops) Workers() int { return o.workers }

// Name identifies the backend.
func (o *Ops) Name() string { return "cpu" }

// Alloc returns n zeroed float32.
func (o *Ops) Alloc(n int) kernels.Buffer { return make(F32, n) }

// AllocInt returns n zeroed int32.
func (o *Ops) AllocInt(n int) kernels.Buffer { return make(I32, n) }

// Slice returns a view of b[off:off+n]; the capacity is clipped so that an
// append on the view can never write into its neighbour.
func (o *Ops) Slice(b kernels.Buffer, off, n int) kernels.Buffer {
	switch s := b.(type) {
	case F32:
		return s[off : off+n : off+n]
	case I32:
		return s[off : off+n : off+n]
	}
	panic(fmt.Sprintf("cpu: Slice of foreign buffer %T", b))
}

// Upload copies host data into dst.
func (o *Ops) Upload(dst kernels.Buffer, src []float32) {
	d := Floats(dst)
	mustLen("Upload", len(d), len(src))
	copy(d, src)
}

// UploadInt copies host ints into dst.
func (o *Ops) UploadInt(dst kernels.Buffer, src []int32) {
	d := Ints(dst)
	mustLen("UploadInt", len(d), len(src))
	copy(d, src)
}

// Download copies src to host memory.
func (o *Ops) Download(dst []float32, src kernels.Buffer) {
	s := Floats(src)
	mustLen("Download", len(dst), len(s))
	copy(dst, s)
}

// Copy copies src into dst; both float32 or both int32.
func (o *Ops) Copy(dst, src kernels.Buffer) {
	switch d := dst.(type) {
	case F32:
		s := Floats(src)
		mustLen("Copy", len(d), len(s))
		copy(d, s)
	case I32:
		s := Ints(src)
		mustLen("Copy", len(d), len(s))
		copy(d, s)
	default:
		panic(fmt.Sprintf("cpu: Copy into foreign buffer %T", dst))
	}
}

// Zero sets every element of b to zero.
func (o *Ops) Zero(b kernels.Buffer) {
	switch s := b.(type) {
	case F32:
		clear(s)
	case I32:
		clear(s)
	default:
		panic(fmt.Sprintf("cpu: Zero of foreign buffer %T", b))
	}
}

// mustLen panics on a length mismatch: a caller bug, not a runtime condition.
func mustLen(op string, dst, src int) {
	if dst != src {
		panic(fmt.Sprintf("cpu: %s: lengths differ (dst %d, src %d)", op, dst, src))
	}
}

// need returns b's float32 slice after checking that it holds at least n
// elements, so that shape bugs panic with the op's name instead of an index.
func need(op, name string, b kernels.Buffer, n int) []float32 {
	f := Floats(b)
	if len(f) < n {
		panic(fmt.Sprintf("cpu: %s: %s has %d elements, needs %d", op, name, len(f), n))
	}
	return f[:n]
}

// needInt is need for int32 buffers.
func needInt(op, name string, b kernels.Buffer, n int) []int32 {
	f := Ints(b)
	if len(f) < n {
		panic(fmt.Sprintf("cpu: %s: %s has %d elements, needs %d", op, name, len(f), n))
	}
	return f[:n]
}
