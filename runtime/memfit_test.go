// The GPU fit check: partitions of one GPU share its memory, and a device that cannot hold its stages is refused naming it.

package runtime

import (
	"errors"
	"strings"
	"testing"

	"baton/internal/field"
	"baton/model"
	"baton/runtime/device"
)

// TestCheckDeviceFit plans gpt2-350m over two partitions of GPU 0 and the
// whole of GPU 1 with a fake memory per GPU: GPU 0 must hold both of its
// partitions' stages, so a memory that either alone fits but not both is
// refused, as a batch field error naming cuda:0 and both figures.
func TestCheckDeviceFit(t *testing.T) {
	devs := []device.Name{
		{Kind: device.KindCUDA, Index: 0, Parts: 2, Part: 0},
		{Kind: device.KindCUDA, Index: 0, Parts: 2, Part: 1},
		{Kind: device.KindCUDA, Index: 1, Part: -1},
	}
	pl, err := model.Partition(model.Presets["gpt2-350m"], device.Strings(devs), model.PlanOptions{B: 2, InFlight: 3})
	if err != nil {
		t.Fatal(err)
	}
	mems := DeviceMemory(devs, pl)
	if len(mems) != 2 || mems[0].Device != "cuda:0" || mems[1].Device != "cuda:1" {
		t.Fatalf("devices %+v, want cuda:0 (stages 0, 1) and cuda:1", mems)
	}
	if got, want := mems[0].Bytes, pl.Stages[0].MemBytes+pl.Stages[1].MemBytes; got != want {
		t.Errorf("cuda:0 needs %d bytes, want its two partitions' %d", got, want)
	}
	gpu0 := mems[0].Bytes
	if err := CheckDeviceFit(mems, map[string]int64{"cuda:0": gpu0, "cuda:1": mems[1].Bytes}, pl, "fp32"); err != nil {
		t.Errorf("exactly enough memory refused: %v", err)
	}
	if err := CheckDeviceFit(mems, map[string]int64{"cuda:1": 1}, pl, "fp32"); err == nil || !strings.Contains(err.Error(), "cuda:1 needs") {
		t.Errorf("a 1-byte cuda:1 (cuda:0 unknown, unchecked): %v", err)
	}
	// bf16 halves the activations: what fits in bf16 need not in fp32.
	if bf := mems[0].MemFor("bf16"); bf >= gpu0 {
		t.Errorf("cuda:0 needs %d bytes in bf16, not less than fp32's %d", bf, gpu0)
	} else if err := CheckDeviceFit(mems, map[string]int64{"cuda:0": bf}, pl, "bf16"); err != nil {
		t.Errorf("enough memory for bf16 refused in bf16: %v", err)
	} else if err := CheckDeviceFit(mems, map[string]int64{"cuda:0": bf}, pl, "fp32"); err == nil {
		t.Error("the bf16 figure passed for an fp32 run")
	}
	err = CheckDeviceFit(mems, map[string]int64{"cuda:0": gpu0 - 1, "cuda:1": 80 << 30}, pl, "fp32")
	var fe *field.Error
	if !errors.As(err, &fe) || fe.Field != "batch" {
		t.Fatalf("cuda:0 a byte short: %v, want a batch field error", err)
	}
	for _, want := range []string{"cuda:0 needs about " + model.HumanBytes(gpu0), "but has " + model.HumanBytes(gpu0-1), "stages 0 (layers", "{devices}"} {
		if !strings.Contains(fe.Render(func(f string) string { return "{" + f + "}" }), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
