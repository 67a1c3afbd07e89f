// Faults: a NaN stops the step before any update and names the tensor; a stalled device fails the step instead of hanging, and nothing is freed under its worker until it ends.

package runtime

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"baton/internal/field"
	"baton/kernels"
	"baton/runtime/device"
)

func TestNonFiniteLossNamesStageAndUpdatesNothing(t *testing.T) {
	pl := newPipeline(t, eqModel, "1f1b", 2, 2, eqBatch)
	pl.step(t)
	st := pl.stages[1]
	i := st.Stack.P.Index("h.7.mlp.c_fc.bias")
	bad := st.Stack.Read(st.Stack.P, i)
	bad[0] = float32(math.Inf(1))
	st.Stack.Write(st.Stack.P, i, bad)
	before := st.Stack.Read(st.Stack.P, 0)

	_, err := pl.ex.Run(pl.in)
	var ne *NumericError
	if !errors.As(err, &ne) {
		t.Fatalf("want a NumericError, got %v", err)
	}
	if ne.Stage != 1 || ne.Tensor != "the loss" || ne.Step != pl.in.AdamStep {
		t.Errorf("error names stage %d tensor %q step %d: %v", ne.Stage, ne.Tensor, ne.Step, err)
	}
	if msg := field.Render(err, func(f string) string { return "--" + f }); !strings.HasSuffix(msg, "; no parameter was updated (lower --lr)") {
		t.Errorf("the CLI would show %q; want it to advise --lr alone (the run clips already)", msg)
	}
	pl.in.MaxGradNorm = 0 // a run that does not clip is told to
	_, err = pl.ex.Run(pl.in)
	if msg := field.Render(err, func(f string) string { return "--" + f }); !strings.HasSuffix(msg, "(lower --lr or set --max-grad-norm)") {
		t.Errorf("without clipping, the CLI would show %q; want it to advise --lr and --max-grad-norm", msg)
	}
	after := st.Stack.Read(st.Stack.P, 0)
	for j := range before {
		if before[j] != after[j] {
			t.Fatalf("%s changed although the step failed", st.Stack.P.Specs[0].Name)
		}
	}
}

// stalledDevice never delivers its sends: the copy hangs as a broken link would.
type stalledDevice struct {
	device.Device
	release chan struct{}
}

func (d *stalledDevice) CopyTo(peer device.Device, dst, src kernels.Buffer) { <-d.release }

func TestStalledDeviceFailsTheStepSayingWhoWaitsOnWhat(t *testing.T) {
	pl := newPipeline(t, eqModel, "gpipe", 2, 2, eqBatch)
	stall := &stalledDevice{Device: pl.devs[0], release: make(chan struct{})}
	released := false
	defer func() {
		if !released {
			close(stall.release)
		}
	}()
	pl.ex.Devices[0] = stall
	pl.stages[0].Device = stall
	pl.ex.Timeout = 200 * time.Millisecond
	done := make(chan error, 1)
	go func() { _, err := pl.ex.Run(pl.in); done <- err }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the executor hung")
	}
	if err == nil {
		t.Fatal("a stalled device did not fail the step")
	}
	for _, want := range []string{"1RECV_F0", "cpu:0 at 0SEND_F0", "cpu:1 at 1RECV_F0", ">>1RECV_F0<<"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	// The stalled worker still runs, on the devices' memory: nothing may be
	// freed under it until it ends.
	if pl.ex.settle(10 * time.Millisecond) {
		t.Error("settle says no worker is left while cpu:0's is stalled in its send")
	}
	close(stall.release)
	released = true
	if !pl.ex.settle(time.Minute) {
		t.Error("settle says a worker is left after the stalled one was released")
	}
}

// failingDevice panics when it records an event once armed, as a CUDA
// device does on a driver error.
type failingDevice struct {
	device.Device
	armed bool
}

func (d *failingDevice) Record() device.Event {
	if d.armed {
		panic("device lost")
	}
	return d.Device.Record()
}

// An evaluation whose last stage fails while the first sends it more
// activations than it has stashes (2, StashBound's for 1f1b, p=2): the send
// that waits for a stash is interrupted, Evaluate returns the failure at once
// (not after the grace given to stuck devices), and the next step runs.
func TestFailureInterruptsASendWaitingForAStash(t *testing.T) {
	pl := newPipeline(t, eqModel, "1f1b", 2, 4, eqBatch)
	pl.step(t)
	fail := &failingDevice{Device: pl.devs[1], armed: true}
	pl.ex.Devices[1] = fail
	pl.stages[1].Device = fail
	t0 := time.Now()
	_, err := pl.ex.Evaluate(pl.in)
	if err == nil || !strings.Contains(err.Error(), "device lost") {
		t.Fatalf("Evaluate: %v; want the device's failure", err)
	}
	if strings.Contains(err.Error(), "did not stop") || time.Since(t0) > 3*time.Second {
		t.Errorf("Evaluate took %v and said %v: a waiting send was not interrupted", time.Since(t0), err)
	}
	fail.armed = false
	pl.step(t)
}
