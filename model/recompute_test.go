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
	opts := PlanOptions{B: 2, T: 1024, InFlight: 2}
	none, err := Partition(cfg, devs, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Recompute = RecomputeBlock
	block, err := Partition(cfg, devs, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range block.Stages {
		k := int64(st.Blocks())
		want := none.Stages[i].MemBytes - 4*2*k*(cfg.BlockActElems(2, 1024, RecomputeNone)-cfg.BlockActElems(2, 1024, RecomputeBlock))
		if st.MemBytes != want || st.FirstLayer != none.Stages[i].FirstLayer {
			t.Errorf("stage %d: %d bytes from layer %d under block, want %d from layer %d", i, st.MemBytes, st.FirstLayer, want, none.Stages[i].FirstLayer)
		}
	}
}

// TestStageBytesCountsTheEagerCopy: an eager optimizer step keeps 12 more
// bytes per parameter, in fp32 and in bf16.
func TestStageBytesCountsTheEagerCopy(t *testing.T) {
	c := Presets["tiny"]
	o := PlanOptions{B: 2, T: 16, InFlight: 2}
	fp32, bf16 := c.StageBytes(1, true, true, o)
	o.EagerOptimizer = true
	fp32e, bf16e := c.StageBytes(1, true, true, o)
	if want := EagerBytesPerParam * c.StageParams(1, true, true); fp32e-fp32 != want || bf16e-bf16 != want {
		t.Errorf("eager adds %d and %d bytes, want %d", fp32e-fp32, bf16e-bf16, want)
	}
}
