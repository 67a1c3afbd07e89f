// bfloat16 on the host: the rounding the BF16 suite applies to its inputs, the reference of the kernels' f32_to_bf16.

package kernelstest

import "math"

// RoundBF16 returns x rounded to the nearest bfloat16 (1 sign, 8 exponent, 7
// mantissa bits), ties to even, as a float32: the rounding of the CUDA
// kernels' f32_to_bf16 (kernels/cuda/src/common.cuh) and of uploads to bf16
// storage, bit for bit. Infinities and zeros stay themselves; a finite value
// past the largest bf16 (0x1.fep127) by half an ulp or more becomes an
// infinity; a NaN stays a quiet NaN of the same sign, keeping the top 7 bits
// of its payload (the quiet bit set).
func RoundBF16(x float32) float32 {
	u := math.Float32bits(x)
	if u&0x7fffffff > 0x7f800000 { // NaN
		return math.Float32frombits((u | 0x00400000) & 0xffff0000)
	}
	u += 0x7fff + (u>>16)&1
	return math.Float32frombits(u & 0xffff0000)
}

// RoundBF16s rounds every element of x to bf16 in place (RoundBF16) and returns x.
func RoundBF16s(x []float32) []float32 {
	for i, v := range x {
		x[i] = RoundBF16(v)
	}
	return x
}
