// Cross-entropy: fused softmax, per-row loss and logit gradients.

package cpu

import (
	"math"

	"baton/kernels"
)

type ceTask struct {
	losses, dlogits, logits []float32
	targets                 []int32
	V                       int
	dscale                  float32
	simd                    *simd
}

var ceTasks taskPool[ceTask]

// CrossEntropyForwardBackward: losses (N) = -log softmax(logits)[target] and
// dlogits (N,V) = (softmax - onehot(target)) * dscale. Stable: the row max is
// subtracted before exp. The portable path takes expf (mathf.go) and sums
// the denominator in float64 in index order; an instruction set's ceRow
// (ceRowVec on amd64) takes its vector exp and sums in float32 over eight
// lanes: either order is fixed by V alone. dlogits may be logits: each row
// reads logits[i] before it writes dlogits[i], and keeps the target's logit
// aside first.
func (o *Ops) CrossEntropyForwardBackward(losses, dlogits, logits, targets kernels.Buffer, N, V int, dscale float32) {
	t := ceTasks.get()
	*t = ceTask{
		losses:  need("CrossEntropyForwardBackward", "losses", losses, N),
		dlogits: need("CrossEntropyForwardBackward", "dlogits", dlogits, N*V),
		logits:  need("CrossEntropyForwardBackward", "logits", logits, N*V),
		targets: needInt("CrossEntropyForwardBackward", "targets", targets, N),
		V:       V,
		dscale:  dscale,
		simd:    o.simd,
	}
	o.parallel(N, o.grain(N, 30*V), t)
	ceTasks.put(t)
}

func (c *ceTask) run(lo, hi int) {
	V := c.V
	for n := lo; n < hi; n++ {
		x := c.logits[n*V : (n+1)*V]  // (V)
		d := c.dlogits[n*V : (n+1)*V] // (V)
		ix := tokenIndex("CrossEntropyForwardBackward", c.targets[n], V)
		if c.simd != nil {
			c.losses[n] = c.simd.ceRow(d, x, ix, c.dscale)
			continue
		}
		xt := x[ix]
		m := x[0]
		for _, v := range x[1:] {
			m = max(m, v)
		}
		var sum float64
		for i, v := range x {
			e := expf(v - m)
			sum += float64(e)
			d[i] = e // the alias-safe place to keep exp until the sum is known
		}
		c.losses[n] = float32(math.Log(sum) - float64(xt-m))
		s := float32(1/sum) * c.dscale
		for i := range d {
			d[i] *= s
		}
		d[ix] -= c.dscale
	}
}
