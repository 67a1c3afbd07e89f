// Recompute modes: their names parse and print, a bad name is an error about its field, and each mode's stash count.

package model

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"baton/internal/field"
)

func TestParseRecompute(t *testing.T) {
	for _, r := range []Recompute{RecomputeNone, RecomputeGELU, RecomputeBlock} {
		got, err := ParseRecompute(r.String())
		if err != nil || got != r {
			t.Errorf("ParseRecompute(%q) = %v, %v; want %v", r.String(), got, err, r)
		}
	}
	if r, err := ParseRecompute(""); err != nil || r != RecomputeNone {
		t.Errorf(`ParseRecompute("") = %v, %v; want none`, r, err)
	}
	for _, s := range []string{"full", "Block", " gelu", "selective"} {
		_, err := ParseRecompute(s)
		var fe *field.Error
		if !errors.As(err, &fe) || fe.Field != "recompute" {
			t.Fatalf("ParseRecompute(%q): %v is not an error about field recompute", s, err)
		}
		msg := field.Render(err, func(f string) string { return "--" + f })
		if !strings.Contains(msg, "--recompute") || !strings.Contains(msg, "none, gelu, block") {
			t.Errorf("ParseRecompute(%q): %q names neither the flag nor the modes", s, msg)
		}
	}
}

func TestRecomputeJSON(t *testing.T) {
	type cfg struct {
		Recompute Recompute `json:"recompute"`
	}
	b, err := json.Marshal(cfg{RecomputeGELU})
	if err != nil || string(b) != `{"recompute":"gelu"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var c cfg
	if err := json.Unmarshal([]byte(`{"recompute":"block"}`), &c); err != nil || c.Recompute != RecomputeBlock {
		t.Fatalf("Unmarshal = %v, %v", c.Recompute, err)
	}
	if err := json.Unmarshal([]byte(`{"recompute":"all"}`), &c); err == nil {
		t.Fatal(`Unmarshal accepted "all"`)
	}
	if _, err := json.Marshal(cfg{RecomputeBlock + 1}); err == nil {
		t.Fatal("Marshal accepted mode 3")
	}
}

func TestRecomputeActElems(t *testing.T) {
	cfg := Presets["gpt2-124m"]
	const B, T = 2, 1024
	bt, C, NH := int64(B*T), int64(cfg.C), int64(cfg.NH)
	for _, tc := range []struct {
		r    Recompute
		want int64 // per token
	}{
		{RecomputeNone, 16*C + 4 + NH},
		{RecomputeGELU, 12*C + 4 + NH},
		{RecomputeBlock, C},
	} {
		if got := cfg.BlockActElems(B, T, tc.r); got != bt*tc.want {
			t.Errorf("BlockActElems(%v) = %d, want %d", tc.r, got, bt*tc.want)
		}
		if got, want := cfg.StageActElemsFor(3, B, T, tc.r), 3*bt*tc.want+bt*C; got != want {
			t.Errorf("StageActElemsFor(3, %v) = %d, want %d", tc.r, got, want)
		}
	}
	if cfg.StageActElems(3, B, T) != cfg.StageActElemsFor(3, B, T, RecomputeNone) {
		t.Error("StageActElems is not StageActElemsFor without recomputation")
	}
}

func TestPartitionRecomputeShrinksStash(t *testing.T) {
	cfg := Presets["gpt2-124m"]
	devs := []string{"cpu:0", "cpu:1"}
	opts := PlanOptions{B: 2, T: 1024, Stashes: []int{2, 2}}
	none, err := Partition(cfg, devs, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Recompute = RecomputeBlock
	block, err := Partition(cfg, devs, opts)
	if err != nil {
		t.Fatal(err)
	}
	N, C := int64(2*1024), int64(cfg.C)
	for i, st := range block.Stages {
		k := int64(st.Blocks())
		// Two stashes keep only each block's output; the scratch gains one
		// block's activations but its output, rebuilt for each backward.
		stashed := 4 * 2 * k * (cfg.BlockActElems(2, 1024, RecomputeNone) - cfg.BlockActElems(2, 1024, RecomputeBlock))
		rebuilt := 4 * (cfg.BlockActElems(2, 1024, RecomputeNone) - N*C)
		want := none.Stages[i].MemBytes - stashed + rebuilt
		if st.MemBytes != want || st.FirstLayer != none.Stages[i].FirstLayer {
			t.Errorf("stage %d: %d bytes from layer %d under block, want %d from layer %d", i, st.MemBytes, st.FirstLayer, want, none.Stages[i].FirstLayer)
		}
	}
}

// TestStageBytesCountsTheEagerCopy: an eager optimizer step keeps a copy of
// the parameters and both moments: 12 more bytes per parameter in fp32, 14
// in bf16 (the bf16 weight and its float32 master), each of its three
// buffers rounded as the CUDA allocator rounds it.
func TestStageBytesCountsTheEagerCopy(t *testing.T) {
	c := Presets["tiny"]
	o := PlanOptions{B: 2, T: 16, Stashes: []int{2}}
	fp32, bf16 := c.StageBytes(0, 1, true, true, o)
	o.EagerOptimizer = true
	fp32e, bf16e := c.StageBytes(0, 1, true, true, o)
	n := c.StageParams(1, true, true)
	if got, want := fp32e-fp32, 3*CUDABlockBytes(4*n); got != want || got < 12*n {
		t.Errorf("eager adds %d bytes in fp32, want %d (12 per parameter, rounded)", got, want)
	}
	if got, want := bf16e-bf16, CUDABlockBytes(2*n)+3*CUDABlockBytes(4*n); got != want || got < 14*n {
		t.Errorf("eager adds %d bytes in bf16, want %d (14 per parameter, rounded)", got, want)
	}
}
