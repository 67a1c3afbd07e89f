// Fuzz targets for what users type: actions and device lists.

package runtime

import (
	"strings"
	"testing"
)

// FuzzParseAction: any string either fails to parse or parses to an action
// that prints back to a string that parses to the same action.
func FuzzParseAction(f *testing.F) {
	for _, s := range []string{"2F0", "1RECV_B3", "0STEP", "3send_f12", "F0", "0X1", "0STEP1", "12W", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAction(s)
		if err != nil {
			return
		}
		b, err := ParseAction(a.String())
		if err != nil || a != b {
			t.Fatalf("%q parsed to %v, which prints as %q and parses to %v (%v)", s, a, a.String(), b, err)
		}
	})
}

// FuzzExpandDevices: any device list either fails with a message naming
// --devices or gives distinct, well-formed names.
func FuzzExpandDevices(f *testing.F) {
	for _, s := range []string{"cpu:0,cpu:1", "cpu:0..3", "cuda:0/4", "cpu:0,cpu:0", "gpu:1", "cpu:3..1", ",", "cpu:-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		names, err := ExpandDevices(s)
		if err != nil {
			if !strings.Contains(err.Error(), "--devices") {
				t.Fatalf("%q: error does not name the flag: %v", s, err)
			}
			return
		}
		seen := map[string]bool{}
		for _, n := range names {
			if seen[n] || !(strings.HasPrefix(n, "cpu:") || strings.HasPrefix(n, "cuda:")) {
				t.Fatalf("%q gave %v", s, names)
			}
			seen[n] = true
		}
	})
}
