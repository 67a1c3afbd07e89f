// --profile-kernels: an Ops decorator that times every kernel call between two events of its device, totalled per kernel (op and shape) and step.

package runtime

import (
	"slices"
	"strings"
	"sync"
	"time"

	"baton/kernels"
	"baton/model"
	"baton/runtime/device"
	"baton/runtime/report"
)

// kernelKey is a kernel call's op and shape: what its cost depends on.
// Comparable, so that timing a call makes no string.
type kernelKey struct {
	op             string // the kernels.Ops method (a constant: no allocation)
	transA, transB bool
	acc            bool // a GEMM that reads c (beta ≠ 0)
	a, b, c, d     int
}

// cost is k's model.Cost (whose Op and Shape name it), for elements of e bytes.
func (k kernelKey) cost(e int) model.Cost {
	switch k.op {
	case "EncoderForward":
		return model.EncoderForwardCost(k.a, k.b, k.c, e)
	case "EncoderBackward":
		return model.EncoderBackwardCost(k.a, k.b, k.c, e)
	case "LayerNormForward":
		return model.LayerNormForwardCost(k.a, k.b, e)
	case "ResidualLayerNormForward":
		return model.ResidualLayerNormForwardCost(k.a, k.b, e)
	case "LayerNormBackward":
		return model.LayerNormBackwardCost(k.a, k.b, e)
	case "Gemm":
		return model.GemmCost(k.transA, k.transB, k.a, k.b, k.c, k.acc, e)
	case "BiasForward":
		return model.BiasForwardCost(k.a, k.b, e)
	case "BiasBackward":
		return model.BiasBackwardCost(k.a, k.b, e)
	case "AttentionForward":
		return model.AttentionForwardCost(k.a, k.b, k.c, k.d, e)
	case "AttentionBackward":
		return model.AttentionBackwardCost(k.a, k.b, k.c, k.d, e)
	case "GeluForward":
		return model.GeluForwardCost(k.a, e)
	case "GeluBackward":
		return model.GeluBackwardCost(k.a, e)
	case "ResidualForward":
		return model.ResidualForwardCost(k.a, e)
	case "CrossEntropyForwardBackward":
		return model.CrossEntropyCost(k.a, k.b, e)
	case "Copy":
		return model.CopyCost(k.a, e)
	case "Zero":
		return model.ZeroCost(k.a, e)
	case "SumSquares":
		return model.SumSquaresCost(k.a, k.b, e)
	case "AdamW":
		return model.AdamWCost(k.a, e)
	}
	panic("runtime: no cost for kernel " + k.op)
}

// kernelCall is one timed call: between start and end on its device.
type kernelCall struct {
	key        kernelKey
	start, end device.Event
}

// timedOps is a device's Ops with every kernel bracketed by the device's
// events. Memory and host copies pass through untimed: they are not
// kernels the roofline prices.
type timedOps struct {
	kernels.Ops
	dev   device.Device
	mu    sync.Mutex // the device's worker records; the trainer takes between steps
	calls []kernelCall
}

func (o *timedOps) done(k kernelKey, start device.Event) {
	end := o.dev.Record()
	o.mu.Lock()
	o.calls = append(o.calls, kernelCall{k, start, end})
	o.mu.Unlock()
}

func (o *timedOps) EncoderForward(out, inp, wte, wpe kernels.Buffer, B, T, C int) {
	s := o.dev.Record()
	o.Ops.EncoderForward(out, inp, wte, wpe, B, T, C)
	o.done(kernelKey{op: "EncoderForward", a: B, b: T, c: C}, s)
}

func (o *timedOps) EncoderBackward(dwte, dwpe, dout, inp kernels.Buffer, B, T, C int) {
	s := o.dev.Record()
	o.Ops.EncoderBackward(dwte, dwpe, dout, inp, B, T, C)
	o.done(kernelKey{op: "EncoderBackward", a: B, b: T, c: C}, s)
}

func (o *timedOps) LayerNormForward(out, mean, rstd, inp, w, b kernels.Buffer, N, C int) {
	s := o.dev.Record()
	o.Ops.LayerNormForward(out, mean, rstd, inp, w, b, N, C)
	o.done(kernelKey{op: "LayerNormForward", a: N, b: C}, s)
}

func (o *timedOps) ResidualLayerNormForward(res, out, mean, rstd, a, b, w, bias kernels.Buffer, N, C int) {
	s := o.dev.Record()
	o.Ops.ResidualLayerNormForward(res, out, mean, rstd, a, b, w, bias, N, C)
	o.done(kernelKey{op: "ResidualLayerNormForward", a: N, b: C}, s)
}

func (o *timedOps) LayerNormBackward(dinp, dw, db, dout, inp, w, mean, rstd kernels.Buffer, N, C int) {
	s := o.dev.Record()
	o.Ops.LayerNormBackward(dinp, dw, db, dout, inp, w, mean, rstd, N, C)
	o.done(kernelKey{op: "LayerNormBackward", a: N, b: C}, s)
}

func (o *timedOps) Gemm(transA, transB bool, M, N, K int, alpha float32, a, b kernels.Buffer, beta float32, c kernels.Buffer) {
	s := o.dev.Record()
	o.Ops.Gemm(transA, transB, M, N, K, alpha, a, b, beta, c)
	o.done(kernelKey{op: "Gemm", transA: transA, transB: transB, acc: beta != 0, a: M, b: N, c: K}, s)
}

func (o *timedOps) BiasForward(out, bias kernels.Buffer, N, OC int) {
	s := o.dev.Record()
	o.Ops.BiasForward(out, bias, N, OC)
	o.done(kernelKey{op: "BiasForward", a: N, b: OC}, s)
}

func (o *timedOps) BiasBackward(dbias, dout kernels.Buffer, N, OC int) {
	s := o.dev.Record()
	o.Ops.BiasBackward(dbias, dout, N, OC)
	o.done(kernelKey{op: "BiasBackward", a: N, b: OC}, s)
}

func (o *timedOps) AttentionForward(out, lse, qkv kernels.Buffer, B, T, C, NH int) {
	s := o.dev.Record()
	o.Ops.AttentionForward(out, lse, qkv, B, T, C, NH)
	o.done(kernelKey{op: "AttentionForward", a: B, b: T, c: C, d: NH}, s)
}

func (o *timedOps) AttentionBackward(dqkv, dout, qkv, out, lse kernels.Buffer, B, T, C, NH int) {
	s := o.dev.Record()
	o.Ops.AttentionBackward(dqkv, dout, qkv, out, lse, B, T, C, NH)
	o.done(kernelKey{op: "AttentionBackward", a: B, b: T, c: C, d: NH}, s)
}

func (o *timedOps) GeluForward(out, inp kernels.Buffer, N int) {
	s := o.dev.Record()
	o.Ops.GeluForward(out, inp, N)
	o.done(kernelKey{op: "GeluForward", a: N}, s)
}

func (o *timedOps) GeluBackward(dinp, inp, dout kernels.Buffer, N int) {
	s := o.dev.Record()
	o.Ops.GeluBackward(dinp, inp, dout, N)
	o.done(kernelKey{op: "GeluBackward", a: N}, s)
}

func (o *timedOps) ResidualForward(out, a, b kernels.Buffer, N int) {
	s := o.dev.Record()
	o.Ops.ResidualForward(out, a, b, N)
	o.done(kernelKey{op: "ResidualForward", a: N}, s)
}

func (o *timedOps) CrossEntropyForwardBackward(losses, dlogits, logits, targets kernels.Buffer, N, V int, dscale float32) {
	s := o.dev.Record()
	o.Ops.CrossEntropyForwardBackward(losses, dlogits, logits, targets, N, V, dscale)
	o.done(kernelKey{op: "CrossEntropyForwardBackward", a: N, b: V}, s)
}

func (o *timedOps) Copy(dst, src kernels.Buffer) {
	s := o.dev.Record()
	o.Ops.Copy(dst, src)
	o.done(kernelKey{op: "Copy", a: dst.Len()}, s)
}

func (o *timedOps) Zero(b kernels.Buffer) {
	s := o.dev.Record()
	o.Ops.Zero(b)
	o.done(kernelKey{op: "Zero", a: b.Len()}, s)
}

func (o *timedOps) SumSquares(sums []float64, bufs []kernels.Buffer) {
	n := 0
	for _, b := range bufs {
		n += b.Len()
	}
	s := o.dev.Record()
	o.Ops.SumSquares(sums, bufs)
	o.done(kernelKey{op: "SumSquares", a: len(bufs), b: n}, s)
}

func (o *timedOps) AdamW(params, grads, m, v kernels.Buffer, N int, p kernels.AdamParams, gradScale float32, t int) {
	s := o.dev.Record()
	o.Ops.AdamW(params, grads, m, v, N, p, gradScale, t)
	o.done(kernelKey{op: "AdamW", a: N}, s)
}

// take hands over the calls recorded so far.
func (o *timedOps) take() []kernelCall {
	o.mu.Lock()
	defer o.mu.Unlock()
	calls := o.calls
	o.calls = nil
	return calls
}

// kernelTotal is a kernel's calls and time in one step, over every device.
type kernelTotal struct {
	calls int
	took  time.Duration
}

// kernelProfile is a run's timed Ops, one per device, and the kernel
// times of its last steps. A nil profile times nothing.
type kernelProfile struct {
	ops  map[device.Device]*timedOps
	kept []keptStep // the last keepSteps steps
}

type keptStep struct {
	res   *StepResult
	times map[kernelKey]kernelTotal
}

func newKernelProfile(on bool) *kernelProfile {
	if !on {
		return nil
	}
	return &kernelProfile{ops: map[device.Device]*timedOps{}}
}

// opsOf is the Ops a stage on dev computes with: timed when profiling,
// one timedOps per device whatever the stages on it.
func (p *kernelProfile) opsOf(dev device.Device) kernels.Ops {
	if p == nil {
		return dev.Ops()
	}
	o := p.ops[dev]
	if o == nil {
		o = &timedOps{Ops: dev.Ops(), dev: dev}
		p.ops[dev] = o
	}
	return o
}

// collect reads the times of the calls recorded since the last collect
// and gives back their events; the devices are done with them (a step
// ends with its losses and norms on the host).
func (p *kernelProfile) collect() map[kernelKey]kernelTotal {
	times := map[kernelKey]kernelTotal{}
	for dev, o := range p.ops {
		rel, _ := dev.(device.EventReleaser)
		for _, c := range o.take() {
			t := times[c.key]
			t.calls++
			t.took += dev.Elapsed(c.start, c.end)
			times[c.key] = t
			if rel != nil {
				rel.Release(c.start)
				rel.Release(c.end)
			}
		}
	}
	return times
}

// discard drops what was timed outside a training step: initialisation,
// evaluation, checkpoints.
func (p *kernelProfile) discard() {
	if p != nil {
		p.collect()
	}
}

// keep totals the calls of the training step that gave res.
func (p *kernelProfile) keep(res *StepResult) {
	if p == nil {
		return
	}
	p.kept = append(p.kept, keptStep{res, p.collect()})
	p.kept = p.kept[max(0, len(p.kept)-keepSteps):]
}

// times is each kernel's mean calls and seconds per step over the steps
// of measured it kept (none: nil), in a stable order.
func (p *kernelProfile) times(measured []*StepResult, e int) []report.KernelTime {
	if p == nil {
		return nil
	}
	sum := map[kernelKey]kernelTotal{}
	n := 0
	for _, k := range p.kept {
		if !slices.Contains(measured, k.res) {
			continue
		}
		n++
		for key, t := range k.times {
			s := sum[key]
			s.calls += t.calls
			s.took += t.took
			sum[key] = s
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]report.KernelTime, 0, len(sum))
	for key, t := range sum {
		c := key.cost(e)
		out = append(out, report.KernelTime{Op: c.Op, Shape: c.Shape, Calls: float64(t.calls) / float64(n), Seconds: t.took.Seconds() / float64(n)})
	}
	slices.SortFunc(out, func(a, b report.KernelTime) int {
		if a.Op != b.Op {
			return strings.Compare(a.Op, b.Op)
		}
		return strings.Compare(a.Shape, b.Shape)
	})
	return out
}
