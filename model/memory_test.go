// The bigger presets plan on 1–8 devices, the bf16 estimate keeps the parameters' bytes and halves the activations', and sizes parse.

package model

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

// TestBiggerPresetsPlan: GPT-2 medium, large and XL validate, have about
// the parameters their names say (the padded vocabulary adds a little) and
// split over 1–8 devices into stages that cover every layer once.
func TestBiggerPresetsPlan(t *testing.T) {
	for name, want := range map[string]float64{"gpt2-350m": 355e6, "gpt2-774m": 774e6, "gpt2-1558m": 1558e6} {
		cfg, err := Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if !slices.Contains(PresetNames(), name) {
			t.Errorf("PresetNames lacks %s", name)
		}
		if got := float64(cfg.NumParams()); math.Abs(got-want)/want > 0.02 {
			t.Errorf("%s has %.0f parameters, want about %.0f", name, got, want)
		}
		for p := 1; p <= 8; p++ {
			devs := make([]string, p)
			for i := range devs {
				devs[i] = fmt.Sprintf("cpu:%d", i)
			}
			pl, err := Partition(cfg, devs, PlanOptions{B: 1, Stashes: slices.Repeat([]int{p}, p)})
			if err != nil {
				t.Fatalf("%s on %d devices: %v", name, p, err)
			}
			sum := 0
			for _, k := range pl.Split() {
				sum += k
			}
			if sum != cfg.L || len(pl.Stages) != p {
				t.Errorf("%s on %d devices: split %v, want %d stages over %d layers", name, p, pl.Split(), p, cfg.L)
			}
		}
	}
}

// TestBF16Estimate: bf16 keeps fp32's 16 bytes per parameter (a bf16
// weight beside the float32 master, a bf16 gradient, float32 moments) and
// halves the activations, so a stage whose activations outweigh its
// parameters needs less in bf16, and one whose parameters outweigh them
// about the same; tf32 keeps fp32's bytes.
func TestBF16Estimate(t *testing.T) {
	for _, B := range []int{1, 8} {
		pl, err := Partition(Presets["gpt2-124m"], []string{"cpu:0", "cpu:1"}, PlanOptions{B: B, Stashes: []int{4, 4}})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range pl.Stages {
			if s.MemFor("tf32") != s.MemBytes || s.MemFor("bf16") != s.MemBytesBF16 {
				t.Errorf("B=%d stage %d: MemFor gives tf32 %d, bf16 %d", B, s.Index, s.MemFor("tf32"), s.MemFor("bf16"))
			}
			params, acts := 16*s.Params, s.MemBytes-16*s.Params
			if acts <= 0 || s.MemBytesBF16 >= s.MemBytes || s.MemBytesBF16 < params+acts/2 {
				t.Errorf("B=%d stage %d: fp32 %d, bf16 %d: want bf16 below fp32 and at least its %d bytes of parameters and half its %d of the rest",
					B, s.Index, s.MemBytes, s.MemBytesBF16, params, acts)
			}
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"80GiB": 80 << 30, "80G": 80 << 30, "40GB": 40e9, "1.5 GiB": 3 << 29, "4096": 4096, "512mib": 512 << 20} {
		if got, err := ParseSize("device-memory", in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "-1G", "0", "GiB", "1e30", "NaN", "nanGiB", "0.5", "0.1B", "InfGiB"} {
		if _, err := ParseSize("device-memory", in); err == nil {
			t.Errorf("ParseSize(%q) gave no error", in)
		}
	}
}
