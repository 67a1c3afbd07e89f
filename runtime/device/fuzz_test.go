// Fuzz target for what users type: device lists.

package device

import (
	"errors"
	"testing"

	"baton/internal/field"
)

// FuzzExpandDevices: any device list either fails with an error about the
// field devices or gives distinct CPU names (this build has no CUDA driver)
// that print as strings which parse back to them.
func FuzzExpandDevices(f *testing.F) {
	for _, s := range []string{"cpu:0,cpu:1", "cpu:0..3", "cuda:0/4", "cpu:0,cpu:0", "gpu:1", "cpu:3..1", ",", "cpu:-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		names, err := Expand(s)
		if err != nil {
			if fe := (*field.Error)(nil); !errors.As(err, &fe) || fe.Field != "devices" {
				t.Fatalf("%q: error is not about field devices: %v", s, err)
			}
			return
		}
		seen := map[Name]bool{}
		for _, n := range names {
			back, err := ParseName(n.String())
			if seen[n] || n.Kind != KindCPU || err != nil || back != n {
				t.Fatalf("%q gave %v (%v parses back to %v, %v)", s, names, n, back, err)
			}
			seen[n] = true
		}
	})
}
