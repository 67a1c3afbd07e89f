// gather on CPU stages: the checkpoint holds the stages' own host memory, no copy.

package runtime

import (
	"testing"

	"baton/kernels"
)

// TestGatherHandsOverHostTensors: every parameter and moment of a CPU
// stage reaches the checkpoint as the stage's own slice (kernels.HostFloats),
// which is what keeps a save of GPT-2 124M from copying 1.5 GB.
func TestGatherHandsOverHostTensors(t *testing.T) {
	pl := newChunkedPipeline(t, eqModel, "1f1b", 2, 2, 1, eqBatch)
	pl.step(t)
	ck, err := gather(pl.stages, eqModel, TrainState{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	checked := 0
	for _, st := range pl.stages {
		s := st.Stack
		for i, spec := range s.P.Specs {
			if seen[spec.Name] {
				continue // the tied head's wte on the last stage: the first stage's is saved
			}
			seen[spec.Name] = true
			for _, c := range []struct {
				kind string
				got  []float32
				buf  kernels.Buffer
			}{{"parameter", ck.Params[spec.Name], s.P.T[i]}, {"m", ck.M[spec.Name], s.M.T[i]}, {"v", ck.V[spec.Name], s.V.T[i]}} {
				h, ok := c.buf.(kernels.HostFloats)
				if !ok {
					t.Fatalf("%s %s: a CPU buffer is not kernels.HostFloats", c.kind, spec.Name)
				}
				if len(c.got) == 0 || &c.got[0] != &h.Floats()[0] {
					t.Errorf("%s %s: the checkpoint holds a copy, not the stage's memory", c.kind, spec.Name)
				}
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("no tensor checked")
	}
}
