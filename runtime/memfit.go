// Will the run fit: the plan's memory beside what the host can give, checked before anything is allocated.

package runtime

import (
	"fmt"

	"baton/internal/field"
	"baton/model"
	"baton/runtime/device"
)

// checkFits refuses a run on virtual CPU devices whose planned memory
// (parameters, gradients, AdamW state, the stashes in flight and the
// head's scratch, over every stage: the devices share the host) is more
// than the process can have, saying both figures and what to lower. GPUs
// are left to their own allocators, which fail with a clear error.
func checkFits(devs []device.Name, pl *model.Plan) error {
	if len(devs) == 0 || devs[0].Kind != device.KindCPU {
		return nil
	}
	var need int64
	for _, s := range pl.Stages {
		need += s.MemBytes
	}
	have, from := hostMemory()
	if have == 0 || need <= have {
		return nil
	}
	return field.Errorf("batch", "the run needs about %s of memory (parameters, gradients, AdamW state, %d micro-batches of activations in flight of B=%d T=%d) but %s is available (%s); lower {batch}, raise {microbatches}, or choose a smaller model",
		gib(need), pl.InFlight, pl.B, pl.T, gib(have), from)
}

func gib(b int64) string { return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30)) }
