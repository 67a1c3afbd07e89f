//go:build cuda

// Element-wise ops (GELU forward and backward, the residual add), in float32 or
// bf16 storage, and the shape checks and launch sizes that every launcher of
// this package uses.

package cuda

import (
	"fmt"
	"math"
	"strings"
	"unsafe"

	"baton/kernels"
)

// eltBlock is the block size of the 1-D element-wise kernels; eltMaxGrid caps
// their grid (they are grid-stride loops): 32768 blocks of 256 threads are
// many times what an H100 holds resident.
const (
	eltBlock   = 256
	eltMaxGrid = 1 << 15
)

// eltGrid is the grid of a grid-stride kernel over n elements with blocks of bs threads.
func eltGrid(n, bs int) int {
	return min((n+bs-1)/bs, eltMaxGrid)
}

// call names a launcher's call for its panics: the op, the names of its shape
// arguments ("B T C", space-separated) and their values. It is a plain value,
// formatted only when a check fails, so a launch allocates nothing for it.
type call struct {
	op    string
	names string
	dims  [4]int
}

// String formats the call as "op(B=2 T=5 C=16)".
func (c call) String() string {
	var b strings.Builder
	b.WriteString(c.op)
	b.WriteByte('(')
	for i, name := range strings.Fields(c.names) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", name, c.dims[i])
	}
	b.WriteByte(')')
	return b.String()
}

// fail panics with the call and what is wrong with it.
func (c call) fail(format string, args ...any) {
	panic("cuda: " + c.String() + ": " + fmt.Sprintf(format, args...))
}

// checkLen panics unless b holds at least n elements (the CPU backend's rule:
// a longer buffer's tail is not touched) of the wanted kind: float32, or
// int32 when isInt.
func (c call) checkLen(name string, b kernels.Buffer, n int, isInt bool) {
	if b == nil {
		c.fail("%s is nil", name)
	}
	if b.Len() < n {
		c.fail("%s has %d elements, needs %d", name, b.Len(), n)
	}
	if cb, ok := b.(Buf); ok && cb.Int != isInt {
		kind := "float32"
		if isInt {
			kind = "int32"
		}
		c.fail("%s is not a %s buffer", name, kind)
	}
}

// checkDims panics unless every dimension (the call's own, and products of
// them the kernels take as one int) fits the kernels' int parameters,
// [0, 2^31); it reports whether one is zero, which leaves nothing to launch.
func (c call) checkDims(dims ...int) (empty bool) {
	for _, d := range dims {
		if d < 0 || d > math.MaxInt32 {
			c.fail("every dimension must be in [0, 2^31)")
		}
		empty = empty || d == 0
	}
	return empty
}

// eltGridBF16 is the grid of a bf16 element-wise kernel over n elements: its
// threads take 8 elements (128 bits) at a time where the views are aligned (the
// GELU and residual kernels, the bias add, the encoder's forward and wpe
// gradient, AdamW's update).
func eltGridBF16(n int) int { return eltGrid((n+7)/8, eltBlock) }

// i32 is a kernel's int argument (the shape checks bound it first).
func i32(n int) int32 { return int32(n) }

// GeluForward: out (N) = gelu_tanh(inp); out and inp both float32 or both bf16.
func (o *Ops) GeluForward(out, inp kernels.Buffer, N int) {
	const op = "GeluForward"
	cl := call{op, "N", [4]int{N}}
	empty := cl.checkDims(N)
	cl.checkLen("out", out, N, false)
	cl.checkLen("inp", inp, N, false)
	bf16 := cl.storage("out inp", out, inp)
	if empty {
		return
	}
	kernel, grid := "gelu_forward", eltGrid(N, eltBlock)
	if bf16 {
		kernel, grid = "gelu_forward_bf16", eltGridBF16(N)
	}
	pOut, pInp, n := dptr(op, out), dptr(op, inp), i32(N)
	o.launch(op, kernel, grid, eltBlock, 0,
		unsafe.Pointer(&pOut), unsafe.Pointer(&pInp), unsafe.Pointer(&n))
}

// GeluBackward: dinp (N) = gelu_tanh'(inp) * dout; dinp may be dout.
func (o *Ops) GeluBackward(dinp, inp, dout kernels.Buffer, N int) {
	const op = "GeluBackward"
	cl := call{op, "N", [4]int{N}}
	empty := cl.checkDims(N)
	cl.checkLen("dinp", dinp, N, false)
	cl.checkLen("inp", inp, N, false)
	cl.checkLen("dout", dout, N, false)
	bf16 := cl.storage("dinp inp dout", dinp, inp, dout)
	if empty {
		return
	}
	kernel, grid := "gelu_backward", eltGrid(N, eltBlock)
	if bf16 {
		kernel, grid = "gelu_backward_bf16", eltGridBF16(N)
	}
	pDinp, pInp, pDout, n := dptr(op, dinp), dptr(op, inp), dptr(op, dout), i32(N)
	o.launch(op, kernel, grid, eltBlock, 0,
		unsafe.Pointer(&pDinp), unsafe.Pointer(&pInp), unsafe.Pointer(&pDout), unsafe.Pointer(&n))
}

// ResidualForward: out (N) = a + b; out may be a or b.
func (o *Ops) ResidualForward(out, a, b kernels.Buffer, N int) {
	const op = "ResidualForward"
	cl := call{op, "N", [4]int{N}}
	empty := cl.checkDims(N)
	cl.checkLen("out", out, N, false)
	cl.checkLen("a", a, N, false)
	cl.checkLen("b", b, N, false)
	bf16 := cl.storage("out a b", out, a, b)
	if empty {
		return
	}
	kernel, grid := "residual_forward", eltGrid(N, eltBlock)
	if bf16 {
		kernel, grid = "residual_forward_bf16", eltGridBF16(N)
	}
	pOut, pA, pB, n := dptr(op, out), dptr(op, a), dptr(op, b), i32(N)
	o.launch(op, kernel, grid, eltBlock, 0,
		unsafe.Pointer(&pOut), unsafe.Pointer(&pA), unsafe.Pointer(&pB), unsafe.Pointer(&n))
}
