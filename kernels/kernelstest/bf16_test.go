// RoundBF16, which the bf16 conformance suite rounds its inputs with: to nearest even, NaN and infinities kept.

package kernelstest

import (
	"math"
	"testing"
)

// TestRoundBF16 pins the rounding bit by bit: exact values, ties to even both
// ways, the carry into the exponent, overflow to infinity, subnormals, NaNs.
// The CUDA kernels' f32_to_bf16 is checked against RoundBF16 on a GPU or
// cudaemu (kernels/cuda: TestAdamWBF16CopyIsRoundedMaster, and the uploads of
// the BF16 conformance suite, whose inputs are rounded here and there alike).
func TestRoundBF16(t *testing.T) {
	for _, c := range []struct{ in, want uint32 }{
		{0x3f800000, 0x3f800000}, // 1: exact
		{0x3f808000, 0x3f800000}, // 1 + 2^-8: a tie, to even (down)
		{0x3f818000, 0x3f820000}, // 1 + 3·2^-8: a tie, to even (up)
		{0x3f808001, 0x3f810000}, // just past the tie: up
		{0x3f807fff, 0x3f800000}, // just below it: down
		{0xbf808001, 0xbf810000}, // negative: by magnitude
		{0x3fffffff, 0x40000000}, // carry into the exponent
		{0x7f7fffff, 0x7f800000}, // the largest float32: to +Inf
		{0x7f7f7fff, 0x7f7f0000}, // the largest bf16 stays
		{0x7f800000, 0x7f800000}, // +Inf
		{0xff800000, 0xff800000}, // -Inf
		{0x00000000, 0x00000000}, // +0
		{0x80000000, 0x80000000}, // -0
		{0x00000001, 0x00000000}, // the least subnormal: to 0
		{0x00008000, 0x00000000}, // a subnormal tie: to even (0)
		{0x00018000, 0x00020000}, // a subnormal tie: to even (up)
		{0x7fc00000, 0x7fc00000}, // the quiet NaN
		{0x7f800001, 0x7fc00000}, // a signalling NaN: quieted, not Inf
		{0xffc5a5ff, 0xffc50000}, // a negative NaN with a payload: its top bits
		{0x7fe50000, 0x7fe50000}, // a bf16 NaN (a BF16 guard) is kept
	} {
		got := math.Float32bits(RoundBF16(math.Float32frombits(c.in)))
		if got != c.want {
			t.Errorf("RoundBF16(%#08x) = %#08x, want %#08x", c.in, got, c.want)
		}
	}
	// Every bf16 is kept, and rounding is monotone and idempotent on a sweep.
	prev := float32(math.Inf(-1))
	for u := uint32(0xff7f0000); u != 0x7f800000; {
		x := math.Float32frombits(u)
		if r := RoundBF16(x); math.Float32bits(r)&0xffff != 0 || RoundBF16(r) != r || r < prev && !(x == 0) {
			t.Fatalf("RoundBF16(%#08x) = %#08x (previous %v)", u, math.Float32bits(r), prev)
		}
		prev = RoundBF16(x)
		if u&0x80000000 != 0 { // walk the negatives toward -0, then the positives up
			if u < 0x80000000+0x1357 {
				u = 0
			} else {
				u -= 0x1357
			}
		} else {
			u += 0x1357
			if u > 0x7f800000 {
				break
			}
		}
	}
}
