// The plan's text: its header counts devices, not stages.

package model

import (
	"strings"
	"testing"
)

// The header counts devices, not stages: interleaving puts several stages
// on one device.
func TestPlanHeaderCountsDevices(t *testing.T) {
	cfg := Presets["small"]
	cfg.L = 4
	for _, c := range []struct {
		stages []string
		want   string
	}{
		{[]string{"cpu:0", "cpu:1"}, "plan: 4 layers on 2 devices, split 2,2;"},
		{[]string{"cpu:0", "cpu:1", "cpu:0", "cpu:1"}, "plan: 4 layers in 4 stages on 2 devices, split 1,1,1,1;"},
	} {
		plan, err := Partition(cfg, c.stages, PlanOptions{B: 1, T: 16})
		if err != nil {
			t.Fatal(err)
		}
		if s := plan.String(); !strings.HasPrefix(s, c.want) {
			t.Errorf("stages on %v: String() begins %q, want %q", c.stages, strings.SplitN(s, "\n", 2)[0], c.want)
		}
	}
}
