// ResidualLayerNormForward: the residual add and the LayerNorm after it in one pass over the rows.

package cpu

import "baton/kernels"

// The fused op is the two unfused ones row by row: each row's sum
// res = a + b (the element-wise add of gelu.go, the SIMD add being that add
// to the bit) and then that row's LayerNorm (layernorm.go's lnTask, with the
// instruction set's lnRow), so its bits are those of ResidualForward then
// LayerNormForward on every instruction set. What it saves on a CPU is one
// fan-out to the workers and a second trip through memory: the LayerNorm
// reads each row of res while it is still in the core's cache.

// resLNTask is one fused call; items are rows.
type resLNTask struct {
	res, a, b []float32
	ln        lnTask // inp is res
}

var resLNTasks taskPool[resLNTask]

// ResidualLayerNormForward: res (N,C) = a + b (res may be a or b); out (N,C) =
// (res-mean)*rstd*w + bias; saves mean, rstd (N).
func (o *Ops) ResidualLayerNormForward(res, out, mean, rstd, a, b, w, bias kernels.Buffer, N, C int) {
	const op = "ResidualLayerNormForward"
	t := resLNTasks.get()
	r := need(op, "res", res, N*C)
	*t = resLNTask{
		res: r,
		a:   need(op, "a", a, N*C),
		b:   need(op, "b", b, N*C),
		ln: lnTask{
			out:  need(op, "out", out, N*C),
			mean: need(op, "mean", mean, N),
			rstd: need(op, "rstd", rstd, N),
			inp:  r,
			w:    need(op, "w", w, C),
			b:    need(op, "bias", bias, C),
			C:    C,
			simd: o.simd,
		},
	}
	o.parallel(N, o.grain(N, 9*C), t)
	resLNTasks.put(t)
}

func (t *resLNTask) run(lo, hi int) {
	C := t.ln.C
	res, a, b := t.res[lo*C:hi*C], t.a[lo*C:hi*C], t.b[lo*C:hi*C] // rows [lo, hi)
	if t.ln.simd != nil {
		t.ln.simd.add(res, a, b)
	} else {
		for i, x := range a {
			res[i] = x + b[i]
		}
	}
	t.ln.run(lo, hi)
}
