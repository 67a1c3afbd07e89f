//go:build cuda

// CUDA graphs on a device: a captured stretch of work replays with new inputs, gives what running it directly gives, and is refused (run directly) where it cannot be captured.

package cuda

import (
	"errors"
	"slices"
	"testing"
)

func TestCUDAGraphReplays(t *testing.T) {
	d := openDevices(t, "cuda:0")[0]
	defer d.Bind()()
	ops := d.Ops()
	const B, T, C, V = 2, 8, 16, 32
	N := B * T
	tok := ops.AllocInt(N)
	wte, wpe := ops.Alloc(V*C), ops.Alloc(T*C)
	x, out := ops.Alloc(N*C), ops.Alloc(N*C)
	w := make([]float32, V*C)
	for i := range w {
		w[i] = float32(i%13)/7 - 0.9
	}
	ops.Upload(wte, w)
	ops.Upload(wpe, w[:T*C])
	inputs := func(seed int32) []int32 {
		v := make([]int32, N)
		for i := range v {
			v[i] = (seed*7 + int32(i)*3) % V
		}
		return v
	}
	var tokens []int32
	work := func() {
		ops.UploadInt(tok, tokens)
		ops.EncoderForward(x, tok, wte, wpe, B, T, C)
		ops.GeluForward(out, x, N*C)
		ops.ResidualForward(x, out, x, N*C)
	}
	read := func() []float32 {
		h := make([]float32, N*C)
		ops.Download(h, x)
		return h
	}
	// What running directly gives for two inputs.
	a, b := inputs(1), inputs(2)
	tokens = a
	work()
	wantA := read()
	tokens = b
	work()
	wantB := read()
	if slices.Equal(wantA, wantB) {
		t.Fatal("the two inputs give the same result: the test shows nothing")
	}

	tokens = a
	g, err := d.CaptureGraph(work, [][]int32{a})
	if err != nil {
		t.Fatalf("CaptureGraph: %v", err)
	}
	defer g.Close()
	if got := read(); !slices.Equal(got, wantA) {
		t.Fatal("the capture's own launch differs from running the work directly")
	}
	for _, in := range []struct {
		tokens []int32
		want   []float32
	}{{b, wantB}, {a, wantA}, {b, wantB}} {
		start := d.Record()
		if err := g.Launch([][]int32{in.tokens}); err != nil {
			t.Fatal(err)
		}
		end := d.Record()
		if got := read(); !slices.Equal(got, in.want) {
			t.Fatal("a replay with new inputs differs from running the work directly on them")
		}
		if el := d.Elapsed(start, end); el < 0 {
			t.Fatalf("events around a launch timed %v", el)
		}
	}
	if s := d.GraphStats(); s.Captured != 1 || s.Replayed != 3 || s.Refused != 0 {
		t.Fatalf("graph stats %+v, want 1 captured, 3 replayed, none refused", s)
	}
	if g.Stale() {
		t.Fatal("a graph is stale with no allocation since its capture")
	}
	ops.Alloc(1)
	if !g.Stale() {
		t.Fatal("a graph is not stale after the device allocated")
	}
	if err := g.Launch(nil); err == nil {
		t.Fatal("a launch without the graph's inputs was not refused")
	}
}

func TestCUDAGraphRefusesHostWork(t *testing.T) {
	d := openDevices(t, "cuda:0")[0]
	defer d.Bind()()
	ops := d.Ops()
	x := ops.Alloc(64)
	host := make([]float32, 64)
	for i := range host {
		host[i] = float32(i)
	}
	ops.Upload(x, host)
	cases := []struct {
		name string
		work func()
	}{
		{"download", func() {
			ops.GeluForward(x, x, 64)
			ops.Download(host, x)
		}},
		{"float upload", func() { ops.Upload(x, host) }},
		{"foreign upload", func() { ops.UploadInt(ops.AllocInt(4), []int32{1, 2, 3, 4}) }},
		{"allocation", func() {
			b := ops.Alloc(16)
			got := make([]float32, 16)
			ops.Download(got, b)
			for _, v := range got {
				if v != 0 {
					t.Errorf("a buffer allocated in a refused capture holds %v, not zero", v)
					break
				}
			}
		}},
	}
	for _, c := range cases {
		before := d.GraphStats().Refused
		ran := false
		g, err := d.CaptureGraph(func() { ran = true; c.work() }, nil)
		if g != nil || !errors.Is(err, ErrNotCaptured) {
			t.Errorf("%s: CaptureGraph gave a graph (%v), or an error not ErrNotCaptured: %v", c.name, g, err)
		}
		if !ran || d.GraphStats().Refused != before+1 {
			t.Errorf("%s: the work did not run directly after the refused capture", c.name)
		}
	}
	// The device still works, and its stream no longer captures.
	ops.Upload(x, host)
	d.Sync()
	got := make([]float32, 64)
	ops.Download(got, x)
	if !slices.Equal(got, host) {
		t.Fatal("the device's stream is not usable after refused captures")
	}
}
