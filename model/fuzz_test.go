// Fuzz targets for what users give the model: integer lists and configurations.

package model

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"baton/internal/field"
)

// FuzzParseInts: a list either fails with an error about its field or round-trips.
func FuzzParseInts(f *testing.F) {
	for _, s := range []string{"6,6,6,6", "1", "", " 2, 3 ", "1,,2", "-1", "9999999999999999999", "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		xs, err := ParseInts("split", s)
		if err != nil {
			if fe := (*field.Error)(nil); !errors.As(err, &fe) || fe.Field != "split" {
				t.Fatalf("%q: error is not about field split: %v", s, err)
			}
			return
		}
		var parts []string
		for _, x := range xs {
			parts = append(parts, strconv.Itoa(x))
		}
		ys, err := ParseInts("split", strings.Join(parts, ","))
		if err != nil || len(ys) != len(xs) {
			t.Fatalf("%q → %v does not round-trip: %v %v", s, xs, ys, err)
		}
	})
}

// FuzzConfig: Validate and Partition never panic, and a config that
// validates can be planned on one device.
func FuzzConfig(f *testing.F) {
	f.Add(256, 128, 128, 4, 8, 4)
	f.Add(0, 1, 1, 1, 1, 1)
	f.Add(50304, 1024, 768, 12, 12, 8)
	f.Add(7, 3, 10, 3, 2, 3)
	f.Fuzz(func(t *testing.T, V, T, C, NH, L, p int) {
		cfg := Config{V: V, MaxT: T, C: C, NH: NH, L: L}
		if cfg.Validate() != nil {
			return
		}
		if L > 1000 || p < 1 || p > 64 {
			return
		}
		devs := make([]string, p)
		for i := range devs {
			devs[i] = "cpu:" + strconv.Itoa(i)
		}
		plan, err := Partition(cfg, devs, PlanOptions{T: 1})
		if err != nil {
			if p <= L {
				t.Fatalf("%v on %d devices: %v", cfg, p, err)
			}
			return
		}
		blocks := 0
		for _, s := range plan.Stages {
			blocks += s.Blocks()
		}
		if blocks != L {
			t.Fatalf("%v on %d devices: plan covers %d blocks", cfg, p, blocks)
		}
	})
}
