// Fuzz target for what users type: device lists.

package device

import (
	"strings"
	"testing"
)

// FuzzExpandDevices: any device list either fails with a message naming
// --devices or gives distinct CPU names (this build has no CUDA driver)
// that print as strings which parse back to them.
func FuzzExpandDevices(f *testing.F) {
	for _, s := range []string{"cpu:0,cpu:1", "cpu:0..3", "cuda:0/4", "cpu:0,cpu:0", "gpu:1", "cpu:3..1", ",", "cpu:-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		names, err := Expand(s)
		if err != nil {
			if !strings.Contains(err.Error(), "--devices") {
				t.Fatalf("%q: error does not name the flag: %v", s, err)
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
