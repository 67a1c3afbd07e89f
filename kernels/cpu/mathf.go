// Float32 exp: the transcendental function of softmax and GELU, without float64 round trips.

package cpu

import "math"

// math.Exp and math.Tanh were 40% of attention's time and most of GELU's
// (which now takes e^-2|u| in place of tanh u, geluParts). This float32
// version is plain arithmetic, so as deterministic as the rest of the
// package (same binary, same bits), and accurate to 1 ulp: TestExpf.

// expf returns e^x: x = k ln2 + r with |r| <= ln2/2, e^r by a degree-6
// polynomial (Cephes' expf coefficients), and 2^k put in the exponent bits.
// Results below the smallest normal float32 flush to zero: a softmax weight
// of 1e-38 is zero for every purpose here.
func expf(x float32) float32 {
	const (
		log2e  = 1.44269504088896341
		ln2Hi  = 0.693359375
		ln2Lo  = -2.12194440e-4
		maxArg = 88.72283905206835  // ln(MaxFloat32)
		minArg = -87.33654475055310 // ln(smallest normal float32)
	)
	switch {
	case x != x:
		return x
	case x > maxArg:
		return float32(math.Inf(1))
	case x < minArg:
		return 0
	}
	// Round x·log2e to nearest: it is >= -126.5 here, so adding 127 makes it
	// positive and truncation a floor, without a data-dependent branch.
	ki := int32(x*log2e+127.5) - 127
	k := float32(ki)
	r := x - k*ln2Hi - k*ln2Lo
	z := r * r
	p := ((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1
	y := p*z + r + 1
	// k is in [-126, 128] for x in [minArg, maxArg]; 2^128 is not a
	// float32, so the top case scales in two steps.
	if ki > 127 {
		return y * 2 * math.Float32frombits(uint32(ki-1+127)<<23)
	}
	return y * math.Float32frombits(uint32(ki+127)<<23)
}
