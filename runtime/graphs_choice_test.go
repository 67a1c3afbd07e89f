// Whether a run uses CUDA graphs: auto only where nothing times inside an action, and on refused there.

package runtime

import (
	"strings"
	"testing"

	"baton/runtime/device"
)

// TestGraphsOnlyWhereTheyRun: auto turns graphs on for CUDA devices only
// where no step times kernels or layers (balancing on measured times does
// in every step), so that summary.json's cuda_graphs says what ran; on is
// refused beside each of those.
func TestGraphsOnlyWhereTheyRun(t *testing.T) {
	devs := []device.Name{{Kind: device.KindCUDA, Parts: 2, Part: 0}, {Kind: device.KindCUDA, Parts: 2, Part: 1}} // cuda:0/2, in any build
	for _, c := range []struct {
		name   string
		change func(*TrainConfig)
		auto   bool
	}{
		{"plain", func(*TrainConfig) {}, true},
		{"profile-kernels", func(c *TrainConfig) { c.ProfileKernels = true }, false},
		{"profile-layers", func(c *TrainConfig) { c.ProfileLayers = true }, false},
		{"balance measured", func(c *TrainConfig) { c.Balance = "measured" }, false},
		{"rebalance auto", func(c *TrainConfig) { c.Rebalance.Mode = "auto" }, false},
	} {
		cfg := TrainConfig{Devices: devs}
		c.change(&cfg)
		if got := cfg.graphsOn(); got != c.auto {
			t.Errorf("%s: auto gives graphs %v, want %v", c.name, got, c.auto)
		}
		cfg.CUDAGraphs = "on"
		if err := cfg.checkCUDAGraphs(); (err == nil) != c.auto || err != nil && !strings.Contains(err.Error(), "drop one of them") {
			t.Errorf("%s: --cuda-graphs on: %v; want it refused exactly where auto is off", c.name, err)
		}
	}
}
