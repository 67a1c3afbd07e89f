// Tests and benchmarks of the float codecs.

package dist

import (
	"math"
	"strings"
	"testing"
)

func TestFloat32sRoundTrip(t *testing.T) {
	v := []float32{0, float32(math.Copysign(0, -1)), 1, -2.5, math.MaxFloat32, math.SmallestNonzeroFloat32, float32(math.Inf(-1)), math.Float32frombits(0x7fc00001)}
	b := EncodeFloat32s(v)
	if len(b) != 4*len(v) || b[4*2+3] != 0x3f || b[4*2+2] != 0x80 { // 1.0 is 0x3f800000, little-endian
		t.Fatalf("encoding % x", b)
	}
	got := make([]float32, len(v))
	if err := DecodeFloat32s(b, got); err != nil {
		t.Fatal(err)
	}
	for i := range v {
		if math.Float32bits(got[i]) != math.Float32bits(v[i]) {
			t.Errorf("value %d: %x, want %x", i, math.Float32bits(got[i]), math.Float32bits(v[i]))
		}
	}
}

func TestFloat64sRoundTrip(t *testing.T) {
	v := []float64{0, math.Copysign(0, -1), 1, -2.5, math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1), math.Float64frombits(0x7ff8000000000001)}
	b := EncodeFloat64s(v)
	if len(b) != 8*len(v) || b[8*2+7] != 0x3f || b[8*2+6] != 0xf0 { // 1.0 is 0x3ff0000000000000
		t.Fatalf("encoding % x", b)
	}
	got := make([]float64, len(v))
	if err := DecodeFloat64s(b, got); err != nil {
		t.Fatal(err)
	}
	for i := range v {
		if math.Float64bits(got[i]) != math.Float64bits(v[i]) {
			t.Errorf("value %d: %x, want %x", i, math.Float64bits(got[i]), math.Float64bits(v[i]))
		}
	}
}

func TestDecodeChecksLength(t *testing.T) {
	if err := DecodeFloat32s(make([]byte, 10), make([]float32, 3)); err == nil || !strings.Contains(err.Error(), "10 bytes (2 float32s and 2 bytes over) where 3 float32s (12 bytes) were expected") {
		t.Errorf("DecodeFloat32s of 10 bytes into 3: %v", err)
	}
	if err := DecodeFloat64s(make([]byte, 16), make([]float64, 3)); err == nil || !strings.Contains(err.Error(), "16 bytes (2 float64s and 0 bytes over) where 3 float64s (24 bytes) were expected") {
		t.Errorf("DecodeFloat64s of 16 bytes into 3: %v", err)
	}
	if err := DecodeFloat32s(nil, nil); err != nil {
		t.Errorf("DecodeFloat32s of nothing into nothing: %v", err)
	}
}

// A stage's activations of GPT-2 small at B=8, T=1024: (B, T, C) float32s.
const benchFloats = 8 * 1024 * 768

func BenchmarkEncodeFloat32s(b *testing.B) {
	v := make([]float32, benchFloats)
	b.SetBytes(4 * benchFloats)
	for b.Loop() {
		EncodeFloat32s(v)
	}
}

func BenchmarkDecodeFloat32s(b *testing.B) {
	v := make([]float32, benchFloats)
	enc := EncodeFloat32s(v)
	b.SetBytes(4 * benchFloats)
	for b.Loop() {
		DecodeFloat32s(enc, v)
	}
}
