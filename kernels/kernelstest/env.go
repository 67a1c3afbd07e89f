// Buffers of one op call: views inside guarded allocations, input checks and read-back.

package kernelstest

import (
	"fmt"
	"math"
	"testing"

	"baton/kernels"
)

type tb = testing.TB

func verbose() bool { return testing.Verbose() }

// guardAfter is the number of guard elements after each view. The guard
// before it is the env's offset.
const guardAfter = 64

// Offsets of a view inside its allocation: aligned puts it 256 bytes in
// (every alignment a kernel could want for vector loads); misaligned puts
// it one float in, which the contract allows (Slice takes any offset) and
// which breaks kernels that assume 8- or 16-byte alignment.
const (
	aligned    = 64
	misaligned = 1
)

// guardBits is the guard value of the i-th buffer of a call: a quiet NaN
// with a payload no arithmetic produces, different for each buffer. A
// kernel that reads past a view mixes NaN into its output; one that writes
// past it changes these bits, even when what it writes is a NaN read from
// another buffer's guard (NaN payloads propagate through arithmetic).
func guardBits(i int) uint32 { return 0x7fc5a500 | uint32(i&0xff) }

// env allocates the buffers of one op call on one backend. Every buffer is
// a view at offset off inside a larger allocation with guard bands on both
// sides; after the call, verify checks that the guards and every input are
// unchanged.
type env struct {
	t    tb
	o    kernels.Ops
	off  int
	bufs []*buf
}

// buf is one view and the allocation around it.
type buf struct {
	name   string
	guard  uint32         // the guard elements' bits
	b      kernels.Buffer // the view the op sees
	parent kernels.Buffer
	n      int
	isInt  bool
	input  bool      // must be unchanged by the op
	data   []float32 // what was uploaded (float inputs)
}

func newEnv(t tb, o kernels.Ops, off int) *env { return &env{t: t, o: o, off: off} }

// alloc places data in a guarded allocation and returns its view.
func (e *env) alloc(name string, data []float32, input bool) *buf {
	n := len(data)
	bits := guardBits(len(e.bufs))
	all := make([]float32, e.off+n+guardAfter)
	for i := range all {
		all[i] = math.Float32frombits(bits)
	}
	copy(all[e.off:], data)
	p := e.o.Alloc(len(all))
	e.o.Upload(p, all)
	b := &buf{name: name, guard: bits, b: e.o.Slice(p, e.off, n), parent: p, n: n, input: input, data: append([]float32(nil), data...)}
	e.bufs = append(e.bufs, b)
	return b
}

// in is a float input the op must not modify.
func (e *env) in(name string, data []float32) *buf { return e.alloc(name, data, true) }

// out is an output, prefilled with data (NaN where the op must overwrite,
// known values where it must accumulate).
func (e *env) out(name string, data []float32) *buf { return e.alloc(name, data, false) }

// nan returns n NaNs: the prefill of an output the op must overwrite, never read.
func nan(n int) []float32 { return filled(n, float32(math.NaN())) }

// ints places int data in a view of a larger int allocation. Int guards
// cannot be read back (Ops has no DownloadInt): over-reads show up in the
// float outputs instead.
func (e *env) ints(name string, data []int32) *buf {
	all := make([]int32, e.off+len(data)+guardAfter)
	copy(all[e.off:], data)
	p := e.o.AllocInt(len(all))
	e.o.UploadInt(p, all)
	b := &buf{name: name, b: e.o.Slice(p, e.off, len(data)), parent: p, n: len(data), isInt: true, input: true}
	e.bufs = append(e.bufs, b)
	return b
}

// get downloads a view.
func (e *env) get(b *buf) []float32 {
	h := make([]float32, b.n)
	e.o.Download(h, b.b)
	return h
}

// verify checks, after the op, that no guard element changed (no write
// outside a view) and that every input holds what was uploaded.
func (e *env) verify() {
	e.t.Helper()
	for _, b := range e.bufs {
		if b.isInt {
			continue
		}
		all := make([]float32, b.parent.Len())
		e.o.Download(all, b.parent)
		for i, v := range all {
			if i >= e.off && i < e.off+b.n {
				continue
			}
			if math.Float32bits(v) != b.guard {
				where := fmt.Sprintf("%d elements before its start", e.off-i)
				if i >= e.off+b.n {
					where = fmt.Sprintf("%d elements past its end", i-e.off-b.n+1)
				}
				e.t.Errorf("%s: %s (%d elements): wrote outside the buffer, %s: %v (0x%08x, the guard is 0x%08x)",
					e.o.Name(), b.name, b.n, where, v, math.Float32bits(v), b.guard)
				break
			}
		}
		if !b.input {
			continue
		}
		for i, v := range all[e.off : e.off+b.n] {
			if math.Float32bits(v) != math.Float32bits(b.data[i]) {
				e.t.Errorf("%s: %s (%d elements) is an input but changed: element %d is %v, was %v", e.o.Name(), b.name, b.n, i, v, b.data[i])
				break
			}
		}
	}
}
