// Tests of training and validation batches.

package data

import (
	"slices"
	"strings"
	"testing"
)

func buffers(B, T int) ([]int32, []int32) {
	return make([]int32, B*T), make([]int32, B*T)
}

func TestTrainBatchDeterministic(t *testing.T) {
	const B, T = 4, 16
	tokens := seq(0, 10000)
	l, err := NewTrainLoader(tokens, B, T, 42)
	if err != nil {
		t.Fatal(err)
	}
	l2, _ := NewTrainLoader(tokens, B, T, 42) // a resumed run: a fresh loader
	other, _ := NewTrainLoader(tokens, B, T, 43)
	in, tg := buffers(B, T)
	in2, tg2 := buffers(B, T)
	seen := map[string]int{}
	for k := range 100 {
		if err := l.Batch(k, in, tg); err != nil {
			t.Fatal(err)
		}
		if err := l2.Batch(k, in2, tg2); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(in, in2) || !slices.Equal(tg, tg2) {
			t.Fatalf("step %d: two loaders with the same seed disagree", k)
		}
		key := string(int32sBytes(in))
		if j, ok := seen[key]; ok {
			t.Fatalf("steps %d and %d gave the same batch", j, k)
		}
		seen[key] = k
		other.Batch(k, in2, tg2)
		if slices.Equal(in, in2) {
			t.Fatalf("step %d: seeds 42 and 43 gave the same batch", k)
		}
	}
	// Out of order, as after a resume, gives the same batch.
	l.Batch(7, in, tg)
	l2.Batch(99, in2, tg2)
	l2.Batch(7, in2, tg2)
	if !slices.Equal(in, in2) {
		t.Fatal("batch 7 depends on which batches came before it")
	}
}

func int32sBytes(xs []int32) []byte {
	b := make([]byte, 0, 4*len(xs))
	for _, x := range xs {
		b = append(b, byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
	}
	return b
}

func TestTrainBatchShifted(t *testing.T) {
	const B, T = 3, 8
	// Tokens equal to their position (mod 2^16) make offsets visible.
	tokens := seq(0, 5000)
	l, _ := NewTrainLoader(tokens, B, T, 7)
	in, tg := buffers(B, T)
	for k := range 50 {
		l.Batch(k, in, tg)
		for b := range B {
			off := l.Offset(k, b)
			if off < 0 || off+T+1 > len(tokens) {
				t.Fatalf("step %d row %d: offset %d out of range", k, b, off)
			}
			for i := range T {
				if in[b*T+i] != int32(off+i) || tg[b*T+i] != int32(off+i+1) {
					t.Fatalf("step %d row %d col %d: input %d target %d, want %d %d", k, b, i, in[b*T+i], tg[b*T+i], off+i, off+i+1)
				}
			}
		}
	}
}

func TestTrainOffsetsCover(t *testing.T) {
	// With exactly T+1 tokens there is one start; with a few more, every
	// start is reached.
	tokens := seq(0, 9)
	l, _ := NewTrainLoader(tokens, 2, 8, 1)
	for k := range 10 {
		if l.Offset(k, 0) != 0 || l.Offset(k, 1) != 0 {
			t.Fatal("with T+1 tokens every offset must be 0")
		}
	}
	l, _ = NewTrainLoader(seq(0, 12), 2, 8, 1)
	hit := map[int]bool{}
	for k := range 100 {
		hit[l.Offset(k, 0)], hit[l.Offset(k, 1)] = true, true
	}
	if len(hit) != 4 {
		t.Fatalf("starts reached %v; want all of 0..3", hit)
	}
}

func TestBatchNoAlloc(t *testing.T) {
	const B, T = 8, 64
	tokens := seq(0, 100000)
	tl, _ := NewTrainLoader(tokens, B, T, 1)
	vl, _ := NewValLoader(tokens, B, T)
	in, tg := buffers(B, T)
	k := 0
	if n := testing.AllocsPerRun(100, func() { tl.Batch(k, in, tg); vl.Batch(k, in, tg); k++ }); n != 0 {
		t.Fatalf("%v allocations per batch; want 0", n)
	}
}

func TestValBatches(t *testing.T) {
	const B, T = 4, 10
	tokens := seq(0, 101) // 10 windows at 0, 10, ..., 90
	l, err := NewValLoader(tokens, B, T)
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != 3 {
		t.Fatalf("Len %d, want 3 (10 windows in batches of 4)", l.Len())
	}
	in, tg := buffers(B, T)
	for i, want := range [][]int{{0, 10, 20, 30}, {40, 50, 60, 70}, {80, 90, 0, 10}, {20, 30, 40, 50}} {
		if err := l.Batch(i, in, tg); err != nil {
			t.Fatal(err)
		}
		for b, off := range want {
			if in[b*T] != int32(off) || tg[b*T+T-1] != int32(off+T) {
				t.Fatalf("batch %d row %d starts at %d; want %d", i, b, in[b*T], off)
			}
		}
	}
	// Fewer windows than B: rows repeat the windows.
	l, _ = NewValLoader(seq(0, 25), B, T)
	l.Batch(0, in, tg)
	if l.Len() != 1 || in[0] != 0 || in[T] != 10 || in[2*T] != 0 || in[3*T] != 10 {
		t.Fatalf("2 windows in a batch of 4: Len %d, rows start %d %d %d %d", l.Len(), in[0], in[T], in[2*T], in[3*T])
	}
	// A huge index must not overflow into a negative offset.
	if err := l.Batch(1<<62, in, tg); err != nil {
		t.Fatal(err)
	}
}

func TestLoaderErrors(t *testing.T) {
	tokens := seq(0, 100)
	for _, c := range []struct {
		B, T int
		want string
	}{{0, 8, "B=0"}, {4, 0, "T=0"}, {4, 100, "only 100 tokens; need at least T+1 = 101"}} {
		if _, err := NewTrainLoader(tokens, c.B, c.T, 1); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewTrainLoader(B=%d, T=%d): error %v; want %q", c.B, c.T, err, c.want)
		}
		if _, err := NewValLoader(tokens, c.B, c.T); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewValLoader(B=%d, T=%d): error %v; want %q", c.B, c.T, err, c.want)
		}
	}
	tl, _ := NewTrainLoader(tokens, 2, 8, 1)
	vl, _ := NewValLoader(tokens, 2, 8)
	in, tg := buffers(2, 8)
	if err := tl.Batch(0, in[:15], tg); err == nil || !strings.Contains(err.Error(), "B*T = 2*8 = 16") {
		t.Errorf("short inputs: error %v", err)
	}
	if err := vl.Batch(0, in, tg[:3]); err == nil {
		t.Error("short targets accepted")
	}
	if err := tl.Batch(-1, in, tg); err == nil {
		t.Error("negative step accepted")
	}
	if err := vl.Batch(-1, in, tg); err == nil {
		t.Error("negative batch accepted")
	}
}

func TestZeroLoaders(t *testing.T) {
	// Loaders not made by their constructors fail cleanly, never panic.
	var tl TrainLoader
	var vl ValLoader
	if err := tl.Batch(0, nil, nil); err == nil {
		t.Error("zero TrainLoader served a batch")
	}
	if err := vl.Batch(0, nil, nil); err == nil {
		t.Error("zero ValLoader served a batch")
	}
	if vl.Len() != 0 {
		t.Error("zero ValLoader has batches")
	}
	l, _ := NewValLoader(seq(0, 50), 2, 8)
	if B, T := l.Shape(); B != 2 || T != 8 {
		t.Errorf("Shape %d, %d", B, T)
	}
}
