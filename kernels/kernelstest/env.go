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
// Under BF16 the payload is in the bits bf16 keeps (6 bits: 31 guards, none
// of them the NaN a kernel makes, 0x7fc00000, or a GPU's 0x7fffffff rounded).
func guardBits(i int, bf16 bool) uint32 {
	if bf16 {
		return 0x7fc00000 | uint32(0x20+i%31)<<16
	}
	return 0x7fc5a500 | uint32(i&0xff)
}

// env allocates the buffers of one op call on one backend. Every buffer is
// a view at offset off inside a larger allocation with guard bands on both
// sides; after the call, verify checks that the guards and every input are
// unchanged.
type env struct {
	t    tb
	o    kernels.Ops
	off  int
	bf16 bool // Tolerances.BF16: buffers by role, float inputs rounded to bf16
	bufs []*buf
	// stored holds the first element of every slice get returned for a
	// Working buffer under BF16: outputs whose elements may carry one bf16
	// rounding (storedBF16).
	stored map[*float32]bool
}

// buf is one view and the allocation around it.
type buf struct {
	name   string
	guard  uint32         // the guard elements' bits
	b      kernels.Buffer // the view the op sees
	parent kernels.Buffer
	n      int
	isInt  bool
	role   kernels.Storage
	input  bool      // must be unchanged by the op
	data   []float32 // what was uploaded (float inputs)
}

func newEnv(t tb, o kernels.Ops, off int, bf16 bool) *env {
	return &env{t: t, o: o, off: off, bf16: bf16, stored: map[*float32]bool{}}
}

// at is a new env for the same backend and storage with views at offset off.
func (e *env) at(off int) *env { return newEnv(e.t, e.o, off, e.bf16) }

// roleOf is the storage of a buffer by the name the cases give it (the ops'
// parameter names, as in ops.go): Exact for the statistics, the losses and
// the moments; Weights for the parameters; Working (activations and
// gradients) for every other. A case whose operand shares a name with
// another op's of a different role passes its role explicitly (inAs, outAs:
// ResidualForward's b is not LayerNorm's bias b).
func roleOf(name string) kernels.Storage {
	switch name {
	case "mean", "rstd", "lse", "losses", "m", "v":
		return kernels.Exact
	case "wte", "wpe", "w", "b", "bias", "params":
		return kernels.Weights
	}
	return kernels.Working
}

// alloc places data in a guarded allocation of the role's storage
// (AllocAs) and returns its view. Under BF16, data is first rounded to bf16
// in place unless the role is Exact, so the caller's slice (and every
// reference computed from it afterwards) holds what the backend stores.
func (e *env) alloc(name string, data []float32, input bool, role kernels.Storage) *buf {
	n := len(data)
	if e.bf16 && role != kernels.Exact {
		RoundBF16s(data)
	}
	bits := guardBits(len(e.bufs), e.bf16)
	all := make([]float32, e.off+n+guardAfter)
	for i := range all {
		all[i] = math.Float32frombits(bits)
	}
	copy(all[e.off:], data)
	p := e.o.AllocAs(len(all), role)
	e.o.Upload(p, all)
	b := &buf{name: name, guard: bits, b: e.o.Slice(p, e.off, n), parent: p, n: n, role: role, input: input,
		data: append([]float32(nil), data...)}
	e.bufs = append(e.bufs, b)
	return b
}

// in is a float input the op must not modify, of the role its name says (roleOf).
func (e *env) in(name string, data []float32) *buf { return e.alloc(name, data, true, roleOf(name)) }

// out is an output, prefilled with data (NaN where the op must overwrite,
// known values where it must accumulate), of the role its name says.
func (e *env) out(name string, data []float32) *buf { return e.alloc(name, data, false, roleOf(name)) }

// inAs and outAs are in and out of an explicit role.
func (e *env) inAs(name string, data []float32, role kernels.Storage) *buf {
	return e.alloc(name, data, true, role)
}

func (e *env) outAs(name string, data []float32, role kernels.Storage) *buf {
	return e.alloc(name, data, false, role)
}

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
	if e.bf16 && b.role == kernels.Working && len(h) > 0 {
		e.stored[&h[0]] = true
	}
	return h
}

// storedBF16 reports whether got is what get returned for a Working buffer
// under BF16: an output that may be stored in bf16, each element rounded once.
// (A parameter's output, Weights, reads back its float32 master.)
func (e *env) storedBF16(got []float32) bool { return len(got) > 0 && e.stored[&got[0]] }

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
