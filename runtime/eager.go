// The eager optimizer: each stage steps as soon as its own gradients are ready, and the step's end undoes and redoes what the global norm says the step should have been.

package runtime

import (
	"fmt"
	"math"
	"sync"
	"time"

	"baton/transformer"
)

// eagerBackups are the copies an eager update is undone from.
type eagerBackups struct {
	once sync.Once
	of   []*transformer.Backup // per stage; each made by its stage's worker, on its device, at its first eager step
	// begun, per stage, says its backup holds the state before an update
	// not validated yet: one a failed step leaves (undoFailed restores it).
	begun []bool
}

// beginEager steps st's tensors but the tied embedding unclipped (gradient
// scale 1, the step the default takes when the norm needs no clipping),
// saving its parameters and moments first and keeping its gradients, so
// that validateEager can redo the step. It waits for nothing: the tied
// embedding, whose gradient needs the other end's part, is stepped by
// applyEager once folded.
func (r *run) beginEager(st *Stage) {
	b := &r.ex.eager
	b.once.Do(func() {
		b.of = make([]*transformer.Backup, len(r.ex.Stages))
		b.begun = make([]bool, len(r.ex.Stages))
	})
	if b.of[st.Index] == nil {
		b.of[st.Index] = st.Stack.NewBackup()
	}
	b.of[st.Index].Save()
	b.begun[st.Index] = true
	st.Stack.UpdateUntied(r.in.AdamStep, r.in.Adam, 1)
}

// applyEager ends st's eager step: the tied embedding, its gradient folded.
func (r *run) applyEager(st *Stage) {
	st.Stack.UpdateTied(r.in.AdamStep, r.in.Adam, 1)
}

// validateEager ends an eager step once the workers are done and the global
// norm is known. Where the default would have stepped unclipped, the step
// stands; where it would have clipped, every stage is restored and stepped
// again with the default's scale; where the norm is not finite, every stage
// is restored and the step fails with the default's error. Gradients are
// zeroed in every case. Restoring copies, so the result is the default's
// bit for bit.
func (r *run) validateEager(res *StepResult) error {
	norm := r.gradNorm()
	finite := !math.IsNaN(norm) && !math.IsInf(norm, 0)
	scale := r.clipScale(norm)
	if finite && scale == 1 { // a scale that rounds to 1 clips nothing
		return r.eachStage(func(st *Stage) { st.Stack.ZeroGrads() })
	}
	t0 := time.Now()
	err := r.eachStage(func(st *Stage) {
		r.ex.eager.of[st.Index].Restore()
		if finite {
			st.Stack.Update(r.in.AdamStep, r.in.Adam, scale)
		}
		st.Stack.ZeroGrads()
	})
	if err == nil {
		// The device's time, not only the host's to issue it, is the redo's cost.
		err = guard(func() error {
			for _, d := range r.ex.Devices {
				if d != nil { // another rank's
					d.Sync()
				}
			}
			return nil
		})
		if err != nil {
			err = fmt.Errorf("the step's end: %w", err)
		}
	}
	res.Redone, res.RedoTime = true, time.Since(t0)
	if err != nil {
		return err
	}
	if !finite {
		return r.nonFinite()
	}
	return nil
}

// eachStage runs f on every stage in turn with its device bound to the
// calling goroutine, stopping at the first device fault.
func (r *run) eachStage(f func(st *Stage)) error {
	for _, st := range r.ex.localStages() {
		err := guard(func() error {
			unbind := st.Device.Bind()
			defer unbind()
			f(st)
			return nil
		})
		if err != nil {
			return fmt.Errorf("the step's end: %s: %w", st.Device.Name(), err)
		}
	}
	return nil
}
