//go:build cuda

// bf16 storage: AllocAs by role, uploads rounding to nearest even, downloads widening
// exactly, a parameter's master kept whole beside its bf16 copy, views, copies, zeroing.

package cuda

import (
	"math"
	"strings"
	"testing"

	"baton/kernels"
	"baton/kernels/kernelstest"
)

// bf16Inputs covers the rounding's cases: exact values, ties to even both ways,
// values just off a tie, the largest finite float32 (rounds to +Inf), infinities,
// subnormals and signed zeros.
func bf16Inputs() []float32 {
	bits := []uint32{
		0x3f800000, 0x3f808000, 0x3f818000, 0x3f808001, 0x3f807fff, // 1, 1+tie (to 1), tie up (to even), just above, just below
		0xbf808000, 0x7f7fffff, 0x7f800000, 0xff800000, 0x00000001, 0x00018000, 0x80000000, 0x00000000,
	}
	out := make([]float32, 0, len(bits)+64)
	for _, b := range bits {
		out = append(out, math.Float32frombits(b))
	}
	for i := range 64 {
		out = append(out, float32(math.Sin(float64(i)*1.7))*float32(math.Pow(10, float64(i%9-4))))
	}
	return out
}

func TestBF16UploadRoundsDownloadWidens(t *testing.T) {
	o := testOps(t, kernels.BF16)
	in := bf16Inputs()
	b := o.AllocAs(len(in), kernels.Working)
	if cb := b.(Buf); !cb.BF16 || cb.Master != 0 {
		t.Fatalf("AllocAs(Working) under bf16 is %s, want bf16", cb.kind())
	}
	o.Upload(b, in)
	got := make([]float32, len(in))
	o.Download(got, b)
	for i, x := range in {
		if w := kernelstest.RoundBF16(x); math.Float32bits(got[i]) != math.Float32bits(w) {
			t.Errorf("element %d: %v (%#08x) came back as %#08x, want %#08x", i, x, math.Float32bits(x), math.Float32bits(got[i]), math.Float32bits(w))
		}
	}
	nan := []float32{float32(math.NaN())}
	nb := o.AllocAs(1, kernels.Working)
	o.Upload(nb, nan)
	o.Download(nan, nb)
	if !math.IsNaN(float64(nan[0])) {
		t.Errorf("NaN came back as %v", nan[0])
	}
}

func TestBF16WeightsKeepTheirMaster(t *testing.T) {
	o := testOps(t, kernels.BF16)
	in := bf16Inputs()
	w := o.AllocAs(len(in), kernels.Weights).(Buf)
	if !w.BF16 || w.Master == 0 {
		t.Fatalf("AllocAs(Weights) under bf16 is %s, want bf16 with a master", w.kind())
	}
	o.Upload(w, in)
	master := make([]float32, len(in))
	o.Download(master, w)
	copyBits := make([]float32, len(in))
	o.Download(copyBits, Buf{Ptr: w.Ptr, N: w.N, BF16: true}) // the bf16 copy alone
	for i, x := range in {
		if math.Float32bits(master[i]) != math.Float32bits(x) {
			t.Errorf("master %d: %v, want %v exactly", i, master[i], x)
		}
		if math.Float32bits(copyBits[i]) != math.Float32bits(kernelstest.RoundBF16(x)) {
			t.Errorf("bf16 copy %d: %#08x, want %#08x", i, math.Float32bits(copyBits[i]), math.Float32bits(kernelstest.RoundBF16(x)))
		}
	}

	// A view at an odd offset moves both the copy and the master.
	const off = 3
	v := o.Slice(w, off, 5)
	o.Upload(v, []float32{1.00390625, 2, 3, 4, 5}) // 1 + 2^-8: a tie, rounds to 1
	o.Download(master, w)
	o.Download(copyBits, Buf{Ptr: w.Ptr, N: w.N, BF16: true})
	if master[off] != 1.00390625 || copyBits[off] != 1 || master[off+4] != 5 || copyBits[off+4] != 5 {
		t.Errorf("view at %d: master %v, copy %v", off, master[off:off+5], copyBits[off:off+5])
	}
	if math.Float32bits(master[off-1]) != math.Float32bits(in[off-1]) || math.Float32bits(master[off+5]) != math.Float32bits(in[off+5]) {
		t.Errorf("the view wrote outside itself: %v, %v", master[off-1], master[off+5])
	}

	// Copy moves the master and the copy; Zero clears both.
	w2 := o.AllocAs(len(in), kernels.Weights)
	o.Copy(w2, w)
	got := make([]float32, len(in))
	o.Download(got, w2)
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(master[i]) {
			t.Fatalf("Copy: master %d is %v, want %v", i, got[i], master[i])
		}
	}
	o.Zero(w2)
	o.Download(got, w2)
	o.Download(copyBits, Buf{Ptr: w2.(Buf).Ptr, N: w.N, BF16: true})
	for i := range got {
		if got[i] != 0 || copyBits[i] != 0 {
			t.Fatalf("Zero: element %d is %v (copy %v)", i, got[i], copyBits[i])
		}
	}
}

func TestBF16CopyRefusesMixedStorage(t *testing.T) {
	o := testOps(t, kernels.BF16)
	work, weights, exact := o.AllocAs(4, kernels.Working), o.AllocAs(4, kernels.Weights), o.AllocAs(4, kernels.Exact)
	if exact.(Buf).BF16 {
		t.Fatal("AllocAs(Exact) under bf16 is not float32")
	}
	for _, c := range []struct{ dst, src kernels.Buffer }{{work, exact}, {exact, work}, {work, weights}, {weights, work}} {
		msg := mustPanic(t, func() { o.Copy(c.dst, c.src) })
		if !strings.Contains(msg, "element types differ") {
			t.Errorf("Copy(%s, %s): %s", c.dst.(Buf).kind(), c.src.(Buf).kind(), msg)
		}
	}
}

func TestAllocAsIsFloat32OutsideBF16(t *testing.T) {
	for _, p := range []kernels.Precision{kernels.FP32, kernels.TF32} {
		o := testOps(t, p)
		for _, s := range []kernels.Storage{kernels.Exact, kernels.Working, kernels.Weights} {
			if b := o.AllocAs(8, s).(Buf); b.BF16 || b.Master != 0 {
				t.Errorf("%v: AllocAs(%v) is %s, want float32", p, s, b.kind())
			}
		}
	}
}
