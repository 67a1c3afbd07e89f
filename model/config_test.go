// Validate refuses a model whose largest tensors reach 2^31 elements (GPU buffers are indexed by int32), naming the tensor that does.
package model

import (
	"strings"
	"testing"
)

func TestValidateNamesTheTensorTooLarge(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string // "" when valid
	}{
		{Config{V: 256, MaxT: 1 << 20, C: 2048, NH: 16, L: 1}, "wpe.weight (n_positions T=1048576 × n_embd C=2048) would have 2147483648 elements"},
		{Config{V: 256, MaxT: 1024, C: 23172, NH: 1, L: 1}, "mlp.c_fc.weight (4·C=92688 × n_embd C=23172) would have 2147766336 elements"},
		{Config{V: 1 << 20, MaxT: 1024, C: 2048, NH: 16, L: 1}, "wte.weight (vocab_size V=1048576 × n_embd C=2048) would have 2147483648 elements"},
		{Config{V: 256, MaxT: 1<<20 - 1, C: 2048, NH: 16, L: 1}, ""},
	} {
		err := c.cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v; want valid", c.cfg, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: %v; want %q", c.cfg, err, c.want)
		}
	}
}

// TestTooManyStagesNamesTheRanks: a run of several processes with more
// devices than layers is told to start fewer ranks, not to edit a device
// list each rank was given one of.
func TestTooManyStagesNamesTheRanks(t *testing.T) {
	_, err := Partition(Presets["tiny"], []string{"rank0/cpu:0", "rank1/cpu:0", "rank2/cpu:0"}, PlanOptions{})
	if want := "3 devices over the ranks but only 2 layers: every stage needs at least one layer; start fewer ranks"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("3 ranks of tiny: %v; want %q", err, want)
	}
}
