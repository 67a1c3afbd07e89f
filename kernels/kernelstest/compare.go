// Comparison: the normalised error of an output against its reference, and the failure message.

package kernelstest

import (
	"fmt"
	"math"
	"strings"
)

// errFloor keeps the normalisation finite where a reference is all zeros
// (dlogits with dscale 0): there any nonzero element fails.
const errFloor = 1e-30

// bf16Tiny is half the least subnormal bfloat16, 2^-134: below 2^-126 a
// bf16 rounding errs by up to this much, absolutely rather than relatively.
const bf16Tiny = 0x1p-134

// result is one output tensor of one op call and what it should hold.
type result struct {
	name  string
	got   []float32
	want  []float64 // the float64 reference (or, in RunAgainst, the other backend)
	base  []float64 // an accumulating output's prefilled values; nil if overwritten
	shape []dim     // for naming the worst element; nil: flat index
	row   int       // normalise per row of this many elements; 0: the whole tensor
	whole float64   // for a part of a larger output: that output's max|want|, the least normaliser
	tol   float64
	// own marks a reference derived from this backend's own output (the
	// LayerNorm of the sums a fused op stored): RunAgainst does not compare
	// it with another backend's, whose stored inputs to it may differ by
	// design (bf16 sums against float32 ones).
	own bool
	// stored is the relative rounding of the output's storage (BF16Unit for
	// an output stored in bf16, else 0): element i may differ from want by
	// stored·max(|got|, |want|) (plus bf16Tiny, for subnormals) beyond tol's
	// bound, the rounding of a value to the storage that no computation can
	// avoid.
	stored float64
}

// dim is one named axis of a result's shape.
type dim struct {
	name string
	n    int
}

// shape builds dims from alternating names and sizes: shape("N", 37, "C", 24).
func shape(args ...any) []dim {
	var d []dim
	for i := 0; i+1 < len(args); i += 2 {
		d = append(d, dim{args[i].(string), args[i+1].(int)})
	}
	return d
}

// verdict is what measure found.
type verdict struct {
	err   float64 // worst normalised error (+Inf for NaN or Inf)
	worst int     // its flat index
	scale float64 // the normaliser at that element
	over  int     // elements whose normalised error exceeds tol
	bad   int     // elements that are NaN or Inf
	raw   float64 // the worst normalised error before the storage's rounding is allowed for
}

// measure normalises |got-want| by the largest |want-base| of the element's
// row (of the tensor when row is 0): for an output that accumulates, the
// error is relative to what the op added, not to the prefilled values.
func (r *result) measure(tol float64) verdict {
	v := verdict{worst: -1, scale: errFloor}
	n := len(r.want)
	rowLen := r.row
	if rowLen <= 0 || rowLen > n {
		rowLen = max(n, 1)
	}
	for lo := 0; lo < n; lo += rowLen {
		hi := min(lo+rowLen, n)
		scale := max(errFloor, r.whole)
		for i := lo; i < hi; i++ {
			scale = max(scale, math.Abs(r.want[i]-r.baseAt(i)))
		}
		for i := lo; i < hi; i++ {
			g := float64(r.got[i])
			d := math.Abs(g - r.want[i])
			v.raw = max(v.raw, d/scale)
			if r.stored > 0 {
				d = max(0, d-r.stored*max(math.Abs(g), math.Abs(r.want[i]))-bf16Tiny)
			}
			e := d / scale
			if math.IsNaN(g) || math.IsInf(g, 0) {
				v.bad++
				e = math.Inf(1)
			}
			if e > tol {
				v.over++
			}
			if v.worst < 0 || e > v.err {
				v.err, v.worst, v.scale = e, i, scale
			}
		}
	}
	return v
}

func (r *result) baseAt(i int) float64 {
	if r.base == nil {
		return 0
	}
	return r.base[i]
}

// check measures r and reports a failure on t, naming the worst element.
// against names what want is ("float64 reference", "backend cpu").
func (r *result) check(t tb, against string) {
	t.Helper()
	if len(r.got) != len(r.want) {
		t.Errorf("%s: %d elements, want %d", r.name, len(r.got), len(r.want))
		return
	}
	if len(r.want) == 0 {
		return
	}
	v := r.measure(r.tol)
	if !(v.err <= r.tol) {
		t.Errorf("%s", r.describe(v, against))
	} else if verbose() {
		if r.stored > 0 {
			t.Logf("%s%s: error %.2g vs %s (tol %.2g) beyond its bf16 rounding (%.2g with it)", r.name, r.dims(), v.err, against, r.tol, v.raw)
		} else {
			t.Logf("%s%s: error %.2g vs %s (tol %.2g)", r.name, r.dims(), v.err, against, r.tol)
		}
	}
}

// describe is the failure message: which tensor, how bad, where, got vs want.
func (r *result) describe(v verdict, against string) string {
	var b strings.Builder
	i := v.worst
	fmt.Fprintf(&b, "%s%s: error %.3g > tol %.2g vs %s\n", r.name, r.dims(), v.err, r.tol, against)
	fmt.Fprintf(&b, "\tworst at %s: got %.9g, want %.9g", r.index(i), r.got[i], r.want[i])
	if r.base != nil {
		fmt.Fprintf(&b, " (accumulated onto %.9g)", r.base[i])
	}
	what := "max|want|"
	if r.base != nil {
		what = "max|want-prefill|"
	}
	where := "of the tensor"
	if r.whole > 0 && v.scale == r.whole {
		where = "of the whole output it is a part of"
	} else if r.row > 0 && r.row < len(r.want) {
		where = fmt.Sprintf("of its row of %d", r.row)
	}
	if r.stored > 0 {
		fmt.Fprintf(&b, "\n\terror = (|got-want| - %.3g max(|got|, |want|), the output's own rounding) / %.4g (%s %s)", r.stored, v.scale, what, where)
	} else {
		fmt.Fprintf(&b, "\n\terror = |got-want| / %.4g (%s %s)", v.scale, what, where)
	}
	fmt.Fprintf(&b, "\n\t%d of %d elements over tolerance, %d NaN or Inf", v.over, len(r.want), v.bad)
	return b.String()
}

// dims formats the shape: " (N=37, C=24)".
func (r *result) dims() string {
	if len(r.shape) == 0 {
		return fmt.Sprintf(" (%d)", len(r.want))
	}
	parts := make([]string, len(r.shape))
	for k, d := range r.shape {
		parts[k] = fmt.Sprintf("%s=%d", d.name, d.n)
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// index formats flat index i as coordinates of the shape: "[N:5 C:17] (flat 137)".
func (r *result) index(i int) string {
	if len(r.shape) <= 1 {
		return fmt.Sprintf("[%d]", i)
	}
	c := make([]string, len(r.shape))
	rest := i
	for k := len(r.shape) - 1; k >= 0; k-- {
		n := max(r.shape[k].n, 1)
		c[k] = fmt.Sprintf("%s:%d", r.shape[k].name, rest%n)
		rest /= n
	}
	return fmt.Sprintf("[%s] (flat %d)", strings.Join(c, " "), i)
}
