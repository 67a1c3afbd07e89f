// Owned memory: what an owner frees stops counting on its device.

package device

import (
	"testing"

	"baton/kernels"
)

// TestOwnedFreeHandsBackWhatItMade: a CPU device stops counting what an
// owner allocated once the owner frees it, and keeps its peak.
func TestOwnedFreeHandsBackWhatItMade(t *testing.T) {
	d := NewCPU("cpu:0")
	kept := d.Ops().Alloc(10)
	o := Own(d, d.Ops())
	o.Alloc(100)
	o.AllocInt(20)
	o.Slice(o.AllocAs(30, kernels.Exact), 5, 10) // a view is no allocation
	o.Free()
	if live, peak := d.Memory(); live != 4*int64(kept.Len()) || peak != 4*160 {
		t.Errorf("live %d, peak %d bytes; want %d (what the owner did not make) and %d", live, peak, 4*kept.Len(), 4*160)
	}
}
