// The bigger presets plan on 1–8 devices, the bf16 estimate differs from fp32's by exactly what it drops and adds, and sizes parse.

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
			pl, err := Partition(cfg, devs, PlanOptions{B: 1, InFlight: p})
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

// TestBF16Estimate: per stage, bf16 keeps the 16 bytes per parameter of
// fp32 (a bf16 weight beside the fp32 master, a bf16 gradient, fp32
// moments) and halves the activations, so it is less than fp32 by 2 bytes
// per activation.
func TestBF16Estimate(t *testing.T) {
	pl, err := Partition(Presets["gpt2-124m"], []string{"cpu:0", "cpu:1"}, PlanOptions{B: 8, InFlight: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range pl.Stages {
		act := (s.MemBytes - s.Params*BytesPerParam) / 4
		if got, want := s.MemBytes-s.MemBytesBF16, 2*act; got != want {
			t.Errorf("stage %d: bf16 is %d bytes less than fp32, want %d", s.Index, got, want)
		}
		if s.MemBytesBF16 >= s.MemBytes || s.MemFor("tf32") != s.MemBytes || s.MemFor("bf16") != s.MemBytesBF16 {
			t.Errorf("stage %d: fp32 %d, bf16 %d: want bf16 less, tf32 the same as fp32", s.Index, s.MemBytes, s.MemBytesBF16)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"80GiB": 80 << 30, "80G": 80 << 30, "40GB": 40e9, "1.5 GiB": 3 << 29, "4096": 4096, "512mib": 512 << 20} {
		if got, err := ParseSize("device-memory", in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "-1G", "0", "GiB", "1e30"} {
		if _, err := ParseSize("device-memory", in); err == nil {
			t.Errorf("ParseSize(%q) gave no error", in)
		}
	}
}
