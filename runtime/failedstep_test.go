// A failed step changes nothing: the step after it, with the default optimizer or the eager one, is bit for bit the step that would have run had the failed one not.

package runtime

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"baton/runtime/device"
)

// lateFailingDevice panics, as a CUDA device does on a driver error, at
// its failAt-th event record (0: never), counting in records.
type lateFailingDevice struct {
	device.Device
	records, failAt int
}

func (d *lateFailingDevice) Record() device.Event {
	if d.records++; d.records == d.failAt {
		panic("device lost")
	}
	return d.Device.Record()
}

func TestFailedStepLeavesNothingBehind(t *testing.T) {
	for _, eager := range []bool{false, true} {
		t.Run(fmt.Sprintf("eager=%v", eager), func(t *testing.T) {
			ref := newPipeline(t, eqModel, "1f1b", 2, 2, eqBatch)
			pl := newPipeline(t, eqModel, "1f1b", 2, 2, eqBatch)
			ref.ex.EagerOptimizer, pl.ex.EagerOptimizer = eager, eager
			late := &lateFailingDevice{Device: pl.devs[0]}
			pl.ex.Devices[0], pl.stages[0].Device = late, late
			ref.step(t)
			pl.step(t)
			sameBits(t, "after the first step", optimizerState(pl), optimizerState(ref))

			// A NaN in a parameter: the step fails at the optimizer.
			st := pl.stages[1]
			i := st.Stack.P.Index("h.7.mlp.c_fc.bias")
			good := st.Stack.Read(st.Stack.P, i)
			bad := append([]float32(nil), good...)
			bad[0] = float32(math.NaN())
			st.Stack.Write(st.Stack.P, i, bad)
			pl.in.AdamStep++
			var numeric *NumericError
			if _, err := pl.ex.Run(pl.in); !errors.As(err, &numeric) {
				t.Fatalf("a NaN parameter: %v, want a NumericError", err)
			}
			pl.in.AdamStep--
			st.Stack.Write(st.Stack.P, i, good)
			ref.step(t)
			late.records = 0
			pl.step(t)
			sameBits(t, "the step after a NaN step", optimizerState(pl), optimizerState(ref))

			// The first stage's device lost: with the default optimizer in
			// the middle of its backward, before any stage updates (one
			// that updated is not undone: the default keeps no copy to
			// undo it from); with the eager one at its last event of the
			// step, after both stages' updates.
			failAt := late.records / 2
			if eager {
				failAt = late.records
			}
			late.records, late.failAt = 0, failAt
			pl.in.AdamStep++
			if _, err := pl.ex.Run(pl.in); err == nil || !strings.Contains(err.Error(), "device lost") {
				t.Fatalf("a device lost: %v, want its failure", err)
			}
			pl.in.AdamStep--
			late.failAt = 0
			ref.step(t)
			pl.step(t)
			sameBits(t, "the step after a device's failure", optimizerState(pl), optimizerState(ref))
		})
	}
}
