// The memory methods: Alloc, AllocInt, AllocAs, Slice, Upload, UploadInt, Download, Copy, Zero.

package kernelstest

import (
	"math"
	"testing"

	"baton/kernels"
)

func testMemory(t *testing.T, o kernels.Ops, bf16 bool) {
	for _, c := range []struct {
		name string
		test func(*testing.T, kernels.Ops)
	}{{"Name", memoryName}, {"Alloc", memoryAlloc}, {"UploadDownload", memoryUploadDownload}, {"Slice", memorySlice}, {"Zero", memoryZero}, {"Copy", memoryCopy}, {"Ints", memoryInts}} {
		t.Run(c.name, func(t *testing.T) { c.test(t, o) })
	}
	t.Run("AllocAs", func(t *testing.T) { memoryAllocAs(t, o, bf16) })
}

// memoryAllocAs: a buffer of each storage is zeroed, has its length, and
// reads back what was uploaded: every bit for Exact and Weights (a parameter
// reads back its float32 master), and for Working the bits or, under BF16 on
// a backend that stores it in bf16, RoundBF16 of them (which of the two the
// first read-back tells); views at odd offsets, Copy and Zero move the same.
func memoryAllocAs(t *testing.T, o kernels.Ops, bf16 bool) {
	for _, s := range []kernels.Storage{kernels.Exact, kernels.Working, kernels.Weights} {
		what := [...]string{"Exact", "Working", "Weights"}[s]
		rounds := false
		stored := func(x []float32) []float32 { // what a buffer of s holds of x
			if rounds {
				return RoundBF16s(append([]float32(nil), x...))
			}
			return x
		}
		const n = 1031
		b := o.AllocAs(n, s)
		if b.Len() != n {
			t.Fatalf("AllocAs(%d, %s).Len() = %d", n, what, b.Len())
		}
		sameBits(t, "AllocAs(n, "+what+") (zeroed)", download(o, b), make([]float32, n))
		data := RandF32(NewRand(seed(26, int(s))), n)
		copy(data, []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1)), 1 + 0x1p-8, 1 + 3*0x1p-8, 1e-40})
		o.Upload(b, data)
		if bf16 && s == kernels.Working {
			rounds = math.Float32bits(download(o, b)[3]) != math.Float32bits(data[3]) // 1 + 2^-8 is no bf16
		}
		sameBits(t, what+": Download after Upload", download(o, b), stored(data))
		v := o.Slice(b, 3, 1000) // 3 elements in: 6 bytes for bf16, 12 for float32
		sameBits(t, what+": Download(Slice(b, 3, 1000))", download(o, v), stored(data)[3:1003])
		other := RandF32(NewRand(seed(27, int(s))), 1000)
		o.Upload(v, other)
		want := append(stored(data)[:3:3], stored(other)...)
		want = append(want, stored(data)[1003:]...)
		sameBits(t, what+": parent after Upload(Slice(b, 3, 1000))", download(o, b), want)
		c := o.AllocAs(n+1, s)
		o.Copy(o.Slice(c, 1, n), b)
		sameBits(t, what+": Copy into a view at offset 1", download(o, o.Slice(c, 1, n)), want)
		o.Zero(o.Slice(c, 5, 7))
		clear(want[4:11])
		sameBits(t, what+": after Zero(Slice(c, 5, 7))", download(o, o.Slice(c, 1, n)), want)
	}
}

func memoryName(t *testing.T, o kernels.Ops) {
	if o.Name() == "" {
		t.Error("Name() is empty")
	}
}

func memoryAlloc(t *testing.T, o kernels.Ops) {
	for _, n := range []int{1, 7, 1031, 1<<16 + 3} {
		b := o.Alloc(n)
		if b.Len() != n {
			t.Fatalf("Alloc(%d).Len() = %d", n, b.Len())
		}
		got := download(o, b)
		if i := firstNot(got, func(i int, v float32) bool { return math.Float32bits(v) == 0 }); i >= 0 {
			t.Errorf("Alloc(%d): element %d is %v, want +0 (zeroed)", n, i, got[i])
		}
	}
}

func memoryUploadDownload(t *testing.T, o kernels.Ops) {
	// Bits must survive: NaN payloads, infinities, -0, subnormals.
	special := []float32{float32(math.NaN()), math.Float32frombits(0x7fc01234), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.Copysign(0, -1)), math.Float32frombits(1), math.MaxFloat32, -math.SmallestNonzeroFloat32, 1, -2.5}
	for _, n := range []int{1, 10, 1031} {
		data := RandF32(NewRand(seed(20, n)), n)
		copy(data, special)
		b := o.Alloc(n)
		o.Upload(b, data)
		sameBits(t, "Download after Upload", download(o, b), data)
		sameBits(t, "second Download", download(o, b), data) // Download does not consume
		data2 := RandF32(NewRand(seed(21, n)), n)
		o.Upload(b, data2)
		sameBits(t, "Download after a second Upload", download(o, b), data2)
	}
}

func memorySlice(t *testing.T, o kernels.Ops) {
	const n = 100
	p := o.Alloc(n)
	o.Upload(p, iota32(n, 0))
	s := o.Slice(p, 13, 29)
	if s.Len() != 29 {
		t.Fatalf("Slice(p, 13, 29).Len() = %d", s.Len())
	}
	sameBits(t, "Download(Slice(p, 13, 29))", download(o, s), iota32(29, 13))
	ss := o.Slice(s, 5, 7) // a view of a view: p[18:25]
	if ss.Len() != 7 {
		t.Fatalf("Slice(Slice(p, 13, 29), 5, 7).Len() = %d", ss.Len())
	}
	sameBits(t, "Download(Slice(Slice(p, 13, 29), 5, 7))", download(o, ss), iota32(7, 18))
	sameBits(t, "Download(Slice(p, 99, 1))", download(o, o.Slice(p, 99, 1)), []float32{99})
	sameBits(t, "Download(Slice(p, 0, 100))", download(o, o.Slice(p, 0, n)), iota32(n, 0))

	// Writes through a view land in the parent, and only there.
	o.Upload(s, iota32(29, 1000))
	want := iota32(n, 0)
	copy(want[13:42], iota32(29, 1000))
	sameBits(t, "parent after Upload(Slice(p, 13, 29))", download(o, p), want)
	o.Upload(ss, iota32(7, 2000))
	copy(want[18:25], iota32(7, 2000))
	sameBits(t, "parent after Upload to a view of a view", download(o, p), want)
	sameBits(t, "the outer view after Upload to a view of a view", download(o, s), want[13:42])

	// Writes to the parent show through an existing view.
	o.Upload(p, iota32(n, 3000))
	sameBits(t, "Slice(p, 13, 29) after Upload(p)", download(o, s), iota32(29, 3013))
}

func memoryZero(t *testing.T, o kernels.Ops) {
	const n = 1031
	p := o.Alloc(n)
	data := RandF32(NewRand(seed(22)), n)
	o.Upload(p, data)
	o.Zero(o.Slice(p, 3, 1000))
	want := append([]float32(nil), data...)
	clear(want[3:1003])
	sameBits(t, "after Zero(Slice(p, 3, 1000))", download(o, p), want)
	o.Zero(p)
	sameBits(t, "after Zero(p)", download(o, p), make([]float32, n))
}

func memoryCopy(t *testing.T, o kernels.Ops) {
	const n = 1031
	src, dst := o.Alloc(n), o.Alloc(n+2)
	data, old := RandF32(NewRand(seed(23)), n), RandF32(NewRand(seed(24)), n+2)
	data[0] = float32(math.NaN()) // a copy moves bits, not values
	o.Upload(src, data)
	o.Upload(dst, old)
	o.Copy(o.Slice(dst, 1, n), src)
	want := append([]float32(nil), old...)
	copy(want[1:], data)
	sameBits(t, "dst after Copy(Slice(dst, 1, n), src)", download(o, dst), want)
	sameBits(t, "src after Copy", download(o, src), data)
	o.Copy(src, o.Slice(dst, 2, n)) // from a view at another offset
	sameBits(t, "after Copy(src, Slice(dst, 2, n))", download(o, src), want[2:])
}

// Ops has no DownloadInt: int buffers are read back through
// EncoderForward with C = 1, wte[i] = i and wpe = 0, which gives
// out[t] = float32(inp[t]). A failure here may be EncoderForward's.
func memoryInts(t *testing.T, o kernels.Ops) {
	const n = 37
	b := o.AllocInt(n)
	if b.Len() != n {
		t.Fatalf("AllocInt(%d).Len() = %d", n, b.Len())
	}
	sameInts(t, "AllocInt (zeroed)", readInts(o, b), make([]int32, n))
	data := RandTokens(NewRand(seed(25)), n, 1000)
	o.UploadInt(b, data)
	sameInts(t, "after UploadInt", readInts(o, b), data)
	v := o.Slice(b, 5, 20)
	if v.Len() != 20 {
		t.Fatalf("Slice of an int buffer: Len() = %d, want 20", v.Len())
	}
	sameInts(t, "Slice(b, 5, 20) of an int buffer", readInts(o, v), data[5:25])
	o.UploadInt(v, make([]int32, 20))
	want := append([]int32(nil), data...)
	clear(want[5:25])
	sameInts(t, "int parent after UploadInt to a view", readInts(o, b), want)
	c := o.AllocInt(n)
	o.Copy(c, b)
	sameInts(t, "Copy of an int buffer", readInts(o, c), want)
	o.Zero(o.Slice(c, 0, 5))
	clear(want[:5])
	sameInts(t, "int buffer after Zero of a view", readInts(o, c), want)
}

// readInts reads an int buffer back through EncoderForward (see Ints).
func readInts(o kernels.Ops, b kernels.Buffer) []int32 {
	const V = 1000
	n := b.Len()
	wte, wpe, out := o.Alloc(V), o.Alloc(n), o.Alloc(n)
	o.Upload(wte, iota32(V, 0))
	o.EncoderForward(out, b, wte, wpe, 1, n, 1)
	f := download(o, out)
	ints := make([]int32, n)
	for i, v := range f {
		ints[i] = int32(v)
	}
	return ints
}

func download(o kernels.Ops, b kernels.Buffer) []float32 {
	h := make([]float32, b.Len())
	o.Download(h, b)
	return h
}

// iota32 returns start, start+1, ... (n values).
func iota32(n int, start float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = start + float32(i)
	}
	return s
}

func firstNot(x []float32, ok func(int, float32) bool) int {
	for i, v := range x {
		if !ok(i, v) {
			return i
		}
	}
	return -1
}

func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d elements, want %d", what, len(got), len(want))
		return
	}
	if i := firstNot(got, func(i int, v float32) bool { return math.Float32bits(v) == math.Float32bits(want[i]) }); i >= 0 {
		t.Errorf("%s: element %d is %v (0x%08x), want %v (0x%08x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
	}
}

func sameInts(t *testing.T, what string, got, want []int32) {
	t.Helper()
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: element %d is %d, want %d", what, i, got[i], want[i])
			return
		}
	}
}
