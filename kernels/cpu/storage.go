// AllocAs: the CPU backend computes in float32 in every precision, so every Storage is a float32 slice.

package cpu

import "baton/kernels"

// AllocAs returns n zeroed float32 whatever s is.
func (o *Ops) AllocAs(n int, _ kernels.Storage) kernels.Buffer { return o.Alloc(n) }
