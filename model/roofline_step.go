// Roofline kernel list: every kernel call of one training step of a plan, in the order transformer's stacks make them.

package model

// Kernel is one kernel call of a training step: its Cost, where it runs
// and how many times a step makes it.
type Kernel struct {
	Cost
	Stage int    `json:"stage"`
	Unit  string `json:"unit"` // UnitName, or "stage" for the optimizer step's work over all the stage's tensors
	// Action is the work's kind: F (forward), B (input gradient), W
	// (weight gradient) or STEP (the optimizer). Schedules without a split
	// backward run B and W in one action; the head computes its gradient
	// inside its forward action, so its B and W calls run there.
	Action string `json:"action"`
	Calls  int    `json:"calls"` // per step: the micro-batches for F, B and W; 1 for STEP
}

// PaddingKernel is the call a run whose tokens take fewer ids than the
// vocabulary adds to StepKernels' for its head's stage: the head adds the
// padding ids' mask to the logits (transformer.Spec.Vocab), in its
// forward, once per micro-batch of m. false where p holds no head (a
// rank's own part of a plan).
func (p *Plan) PaddingKernel(m, e int) (Kernel, bool) {
	for _, st := range p.Stages {
		if st.Head {
			return Kernel{Cost: BiasForwardCost(p.B*p.T, p.Config.V, e), Stage: st.Index, Unit: p.Config.UnitName(p.Config.HeadUnit()), Action: "F", Calls: m}, true
		}
	}
	return Kernel{}, false
}

// StepKernels lists the kernel calls of one training step of p with m
// micro-batches of p.B sequences of p.T tokens, e bytes per element (see
// Cost), as transformer.Stack makes them under p.Recompute: the forward,
// the backward (split into I and W actions when split, which under
// RecomputeBlock rebuilds each block's activations in both), and each
// stage's optimizer step. Host copies (tokens, targets, losses) and the
// copies between devices are not kernels and are not listed.
func (p *Plan) StepKernels(m int, split bool, e int) []Kernel {
	var ks []Kernel
	for _, st := range p.Stages {
		l := kernelList{plan: p, e: e, stage: st.Index, calls: m}
		if st.Embed {
			l.unit, l.action = p.Config.UnitName(EmbeddingUnit), "F"
			l.add(EncoderForwardCost(p.B, p.T, p.Config.C, e))
		}
		for b := st.FirstLayer; b <= st.LastLayer; b++ {
			l.unit = p.Config.UnitName(BlockUnit(b))
			l.blockForward()
		}
		if st.Head {
			l.unit = p.Config.UnitName(p.Config.HeadUnit())
			l.head()
		}
		for b := st.LastLayer; b >= st.FirstLayer; b-- {
			l.unit = p.Config.UnitName(BlockUnit(b))
			l.blockBackward(split)
		}
		if st.Embed {
			l.unit, l.action = p.Config.UnitName(EmbeddingUnit), "W"
			l.add(EncoderBackwardCost(p.B, p.T, p.Config.C, e))
		}
		l.calls = 1
		l.optimizer(st)
		ks = append(ks, l.ks...)
	}
	return ks
}

// kernelList collects one stage's kernels; unit, action and calls label
// those added next.
type kernelList struct {
	plan         *Plan
	e, stage     int
	unit, action string
	calls        int
	ks           []Kernel
}

func (l *kernelList) add(c Cost) {
	l.ks = append(l.ks, Kernel{Cost: c, Stage: l.stage, Unit: l.unit, Action: l.action, Calls: l.calls})
}

func (l *kernelList) dims() (N, C int) { return l.plan.B * l.plan.T, l.plan.Config.C }

// linear is linearForward: the product and the bias.
func (l *kernelList) linear(N, C, OC int) {
	l.add(GemmCost(false, false, N, OC, C, false, l.e))
	l.add(BiasForwardCost(N, OC, l.e))
}

// toGelu is blockForwardToGelu: a block's forward up to the MLP projection.
func (l *kernelList) toGelu() {
	N, C, e, p := l.plan.B*l.plan.T, l.plan.Config.C, l.e, l.plan
	l.add(LayerNormForwardCost(N, C, e))
	l.linear(N, C, 3*C)
	l.add(AttentionForwardCost(p.B, p.T, C, p.Config.NH, e))
	l.linear(N, C, C)
	l.add(ResidualLayerNormForwardCost(N, C, e))
	l.linear(N, C, 4*C)
	l.add(GeluForwardCost(N*4*C, e))
}

// blockForward is blockForward.
func (l *kernelList) blockForward() {
	N, C := l.dims()
	l.action = "F"
	l.toGelu()
	l.linear(N, 4*C, C)
	l.add(ResidualForwardCost(N*C, l.e))
}

// blockBackward is a block's part of Backward, or of BackwardInput and
// BackwardWeight when split.
func (l *kernelList) blockBackward(split bool) {
	rebuild := l.plan.Recompute == RecomputeBlock
	l.action = "B"
	if rebuild {
		l.toGelu()
	}
	l.backwardInput()
	l.action = "W"
	if rebuild && split {
		l.toGelu()
	}
	l.backwardWeight()
}

// backwardInput is blockBackwardInput.
func (l *kernelList) backwardInput() {
	N, C := l.dims()
	p, e := l.plan, l.e
	in := func(C, OC int) { l.add(GemmCost(false, true, N, C, OC, false, e)) } // linearBackwardInput
	l.add(CopyCost(N*C, e))
	in(4*C, C)
	l.add(GeluBackwardCost(N*4*C, e))
	in(C, 4*C)
	l.add(CopyCost(N*C, e))
	l.add(LayerNormBackwardCost(N, C, e))
	in(C, C)
	l.add(AttentionBackwardCost(p.B, p.T, C, p.Config.NH, e))
	in(C, 3*C)
	l.add(CopyCost(N*C, e))
	l.add(LayerNormBackwardCost(N, C, e))
}

// backwardWeight is blockBackwardWeight.
func (l *kernelList) backwardWeight() {
	N, C := l.dims()
	e := l.e
	if l.plan.Recompute == RecomputeGELU {
		l.add(GeluForwardCost(N*4*C, e))
	}
	for _, io := range [][2]int{{4 * C, C}, {C, 4 * C}, {C, C}, {C, 3 * C}} { // linearBackwardWeight of each
		l.add(GemmCost(true, false, io[0], io[1], N, true, e))
		l.add(BiasBackwardCost(N, io[1], e))
	}
}

// head is headForwardBackward: the head's forward, loss and backward, all
// in its forward action.
func (l *kernelList) head() {
	N, C := l.dims()
	V, e := l.plan.Config.V, l.e
	l.action = "F"
	l.add(LayerNormForwardCost(N, C, e))
	l.add(GemmCost(false, true, N, V, C, false, e))
	l.add(CrossEntropyCost(N, V, e))
	l.action = "B"
	l.add(GemmCost(false, false, N, C, V, false, e))
	l.action = "W"
	l.add(GemmCost(true, false, V, C, N, true, e))
	l.action = "B"
	l.add(ZeroCost(N*C, e))
	l.add(LayerNormBackwardCost(N, C, e))
}

// optimizer is a stage's STEP: the tied embedding's gradient made whole
// (FoldTiedGrad), the gradients' sums of squares (GradSquares, without the
// LM head's copy of wte), AdamW per tensor and the gradients zeroed.
func (l *kernelList) optimizer(st Stage) {
	c, e := l.plan.Config, l.e
	l.action = "STEP"
	type tensors struct {
		unit string
		ts   []Tensor
	}
	var all []tensors
	if st.Embed {
		all = append(all, tensors{c.UnitName(EmbeddingUnit), c.EmbeddingTensors()})
	}
	for b := st.FirstLayer; b <= st.LastLayer; b++ {
		all = append(all, tensors{c.UnitName(BlockUnit(b)), c.BlockTensors(b)})
	}
	if st.Head {
		all = append(all, tensors{c.UnitName(c.HeadUnit()), c.HeadTensors()})
	}
	counted, elems := 0, 0
	for _, g := range all {
		for _, t := range g.ts {
			counted++
			elems += t.Elems()
		}
	}
	tied := c.V * c.C
	total := elems
	if st.Head && !st.Embed {
		total += tied // the LM head's own copy of wte
	}
	l.unit = "stage"
	if st.Embed || st.Head {
		l.add(ResidualForwardCost(tied, e))
	}
	l.add(SumSquaresCost(counted, elems, e))
	for _, g := range all {
		l.unit = g.unit
		for _, t := range g.ts {
			l.add(AdamWCost(t.Elems(), e))
		}
	}
	if st.Head && !st.Embed {
		l.add(AdamWCost(tied, e))
	}
	l.unit = "stage"
	l.add(ZeroCost(total, e))
	if st.Head {
		l.add(ZeroCost(tied, e))
	}
}

// Totals sums ks' FLOPs and bytes over a step's calls.
func Totals(ks []Kernel) (flops, bytes float64) {
	for _, k := range ks {
		flops += float64(k.Calls) * k.FLOPs
		bytes += float64(k.Calls) * k.Bytes
	}
	return flops, bytes
}
