//go:build cuda

// bf16 storage: the conversions between float32 and bf16 buffers, and the checks that
// pick an op's float32 or bf16 kernels from its operands.

package cuda

import (
	"strings"
	"unsafe"

	"gorgonia.org/cu"

	"baton/kernels"
)

// kind names b's element type for messages.
func (b Buf) kind() string {
	switch {
	case b.Int:
		return "int32"
	case b.Master != 0:
		return "bf16 with a float32 master"
	case b.BF16:
		return "bf16"
	}
	return "float32"
}

// convert launches a conversion kernel (convert.cu) over n elements, dst from src.
func (o *Ops) convert(op, kernel string, dst, src cu.DevicePtr, n int) {
	pDst, pSrc, n64 := dst, src, int64(n)
	o.launch(op, kernel, eltGrid(n, eltBlock), eltBlock, 0,
		unsafe.Pointer(&pDst), unsafe.Pointer(&pSrc), unsafe.Pointer(&n64))
}

// storage reports whether an op's float operands (names, space-separated, and bufs, in
// that order) are bf16 rather than float32, and panics on a mix: an op's activations
// and gradients share one storage, the precision's (a parameter counts by its bf16
// copy, which the kernels read). Operands that are float32 in every precision
// (kernels.Exact) are checked with c.exact instead.
func (c call) storage(names string, bufs ...kernels.Buffer) (bf16 bool) {
	for i, b := range bufs {
		cb, ok := b.(Buf)
		if !ok {
			continue // checkLen names it
		}
		if i == 0 {
			bf16 = cb.BF16
		} else if cb.BF16 != bf16 {
			c.fail("%s is %s, unlike %s (%s)", field(names, i), cb.kind(), field(names, 0), asBuf(c.op, bufs[0]).kind())
		}
	}
	return bf16
}

// exact panics unless b is float32 (LayerNorm's statistics, the log-sum-exp, losses,
// moments: kernels.Exact in every precision).
func (c call) exact(name string, b kernels.Buffer) {
	if cb, ok := b.(Buf); ok && cb.BF16 {
		c.fail("%s is %s; it must be float32 (kernels.Exact) in every precision", name, cb.kind())
	}
}

// field is the i-th space-separated word of names.
func field(names string, i int) string {
	if w := strings.Fields(names); i < len(w) {
		return w[i]
	}
	return "operand"
}
