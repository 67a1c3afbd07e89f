// The partition planner: which decoder blocks each pipeline stage runs, and what each stage costs.

package model

import (
	"fmt"
	"strings"

	"baton/internal/field"
)

// Stage is a contiguous part of the decoder on one device, with its
// estimated cost. A device holds one stage, or several with interleaving.
type Stage struct {
	Index         int     `json:"stage"`
	Device        string  `json:"device"`
	FirstLayer    int     `json:"first_layer"`     // first decoder block, 0-based
	LastLayer     int     `json:"last_layer"`      // last decoder block, inclusive
	Embed         bool    `json:"embed"`           // holds the token and position embeddings
	Head          bool    `json:"head"`            // holds ln_f, the tied LM head and the loss
	Params        int64   `json:"params"`          // including the head's copy of wte on a last stage that is not also first
	FLOPsPerToken float64 `json:"flops_per_token"` // training (forward+backward) cost per token
	MemBytes      int64   `json:"mem_bytes"`       // fp32 and tf32: every buffer the stage allocates on its device (StageBytes)
	MemBytesBF16  int64   `json:"mem_bytes_bf16"`  // the same in bf16
	Stashes       int     `json:"stashes"`         // micro-batch stashes the estimates count (PlanOptions.Stashes)
}

// Blocks is the number of decoder blocks the stage runs.
func (s Stage) Blocks() int { return s.LastLayer - s.FirstLayer + 1 }

// Plan is a partition of a model into pipeline stages, in pipeline order,
// each a contiguous range of blocks on the device named for it.
type Plan struct {
	Stages   []Stage `json:"stages"`
	Config   Config  `json:"config"`
	B        int     `json:"micro_batch"` // micro-batch size the memory estimate assumes
	T        int     `json:"context"`     // tokens per sequence for FLOPs and memory
	InFlight int     `json:"in_flight"`   // the most micro-batch stashes any stage allocates (Stage.Stashes)
	// Recompute is what each block's forward leaves for its backward to
	// recompute; the stashes' memory is counted for it.
	Recompute Recompute `json:"recompute"`
	// EagerOptimizer: the memory counts an eager optimizer step's copy
	// (PlanOptions.EagerOptimizer).
	EagerOptimizer bool `json:"eager_optimizer,omitempty"`
	// Vocab: the memory counts the head's mask of the padding ids past it
	// (PlanOptions.Vocab; 0: none).
	Vocab int `json:"vocab,omitempty"`
}

// PlanOptions say how to split; without Split or LayerMap the planner balances.
type PlanOptions struct {
	Split     []int     // blocks per stage, in pipeline order (6,6,6,6); field "split"
	LayerMap  []int     // a stage index per block (0,0,1,1); must be contiguous; field "layer-map"
	B, T      int       // micro-batch for the memory estimate; 0 means B=1 and T=cfg.MaxT
	Recompute Recompute // what each block recomputes in its backward rather than stash; field "recompute"
	// Stashes is, per stage in pipeline order, the micro-batch stashes the
	// stage allocates: the schedule's (schedule.Schedule.Stashes). They
	// differ by stage (1f1b on 4 stages: 4, 4, 3, 2), so each stage's
	// estimate counts its own rather than the most. Empty counts one per
	// stage; an entry of 0 counts 1.
	Stashes []int
	// Microbatches per step: the last stage keeps every one's per-token
	// losses; 0 counts its stashes'.
	Microbatches int
	// SplitBackward says that backwards split into I and W (zero-bubble
	// schedules): each stash keeps its blocks' linear layers' gradients
	// from I to W.
	SplitBackward bool
	// EagerOptimizer counts the copy of parameters and AdamW moments an
	// eager optimizer step keeps to redo a step (12 bytes per parameter, 14
	// in bf16).
	EagerOptimizer bool
	// Vocab is how many ids the data's tokens take where fewer than the
	// model's V (0: all): the head masks the rest, with a mask of V
	// elements that the last stage allocates as its biases (transformer.Spec.Vocab).
	Vocab int
}

// Partition splits cfg's blocks into one stage per entry of stageDevices,
// which names the device of each stage in pipeline order (a device appears
// once, or, with interleaving, once per chunk). An explicit Split or
// LayerMap is checked and used; otherwise the split minimises the largest
// stage's FLOPs per token (see balance).
func Partition(cfg Config, stageDevices []string, opts PlanOptions) (*Plan, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := len(stageDevices)
	if p == 0 {
		return nil, field.Errorf("devices", "model: no devices to plan for; give at least one with {devices}, e.g. {devices} cpu:0")
	}
	if p > cfg.L {
		return nil, tooManyStages(cfg.L, stageDevices)
	}
	B, T := opts.B, opts.T
	if B == 0 {
		B = 1
	}
	if B < 0 {
		return nil, fmt.Errorf("model: plan micro-batch size B=%d is negative; give B of 1 or more (0 means 1)", B)
	}
	if T == 0 {
		T = cfg.MaxT
	}
	if err := cfg.CheckContext(T); err != nil {
		return nil, err
	}
	if B > MaxStepTokens/T {
		return nil, field.Errorf("batch", "model: a micro-batch of %d sequences of %d tokens is more than %d tokens; lower {batch}", B, T, MaxStepTokens)
	}
	if n := len(opts.Stashes); n > 0 && n != p {
		return nil, fmt.Errorf("model: %d stash counts for %d stages; give one per stage", n, p)
	}
	for s, n := range opts.Stashes {
		if n < 0 {
			return nil, fmt.Errorf("model: plan stashes of stage %d are %d; give 1 or more (0 means 1)", s, n)
		}
	}

	var split []int
	var err error
	switch {
	case len(opts.Split) > 0 && len(opts.LayerMap) > 0:
		return nil, field.Errorf("split", "model: both {split} and {layer-map} given; they say the same thing, keep one (a contiguous {layer-map} is a {split})")
	case len(opts.Split) > 0:
		split, err = checkSplit(cfg.L, stageDevices, opts.Split)
	case len(opts.LayerMap) > 0:
		split, err = layerMapSplit(cfg.L, stageDevices, opts.LayerMap)
	default:
		split = balance(cfg, p, T)
	}
	if err != nil {
		return nil, err
	}

	opts.B, opts.T = B, T
	plan := &Plan{Config: cfg, B: B, T: T, Recompute: opts.Recompute, EagerOptimizer: opts.EagerOptimizer, Vocab: opts.Vocab}
	first := 0
	for s, k := range split {
		st := Stage{Index: s, Device: stageDevices[s], FirstLayer: first, LastLayer: first + k - 1, Embed: s == 0, Head: s == p-1}
		first += k
		st.Params = cfg.StageParams(k, st.Embed, st.Head)
		st.FLOPsPerToken = float64(k) * cfg.BlockFLOPsPerToken(T)
		if st.Head {
			st.FLOPsPerToken += cfg.HeadFLOPsPerToken()
		}
		st.MemBytes, st.MemBytesBF16 = cfg.StageBytes(s, k, st.Embed, st.Head, opts)
		st.Stashes = opts.stashes(s)
		plan.InFlight = max(plan.InFlight, st.Stashes)
		plan.Stages = append(plan.Stages, st)
	}
	return plan, nil
}

// stashes is the micro-batch stashes stage s allocates: its entry of
// Stashes, at least 1.
func (o PlanOptions) stashes(s int) int {
	if s < len(o.Stashes) {
		return max(o.Stashes[s], 1)
	}
	return 1
}

// StageParams is the parameter count of a stage of k blocks, with the
// embedding and the head as it holds them.
func (c Config) StageParams(k int, embed, head bool) int64 {
	n := int64(k) * c.BlockParams()
	if embed {
		n += c.EmbeddingParams()
	}
	if head {
		n += c.HeadParams()
		if !embed {
			// The LM head is tied to wte: a last stage apart from the first
			// keeps its own copy, with gradient and AdamW state.
			n += int64(c.V) * int64(c.C)
		}
	}
	return n
}

// tooManyStages says that L layers cannot give each stage one, in the
// terms of what made the stages: devices, or devices and chunks.
func tooManyStages(L int, stageDevices []string) error {
	p := len(stageDevices)
	if n := devicesOf(stageDevices); n < p {
		return field.Errorf("chunks", "model: %d devices × %d chunks = %d stages but only %d layers: every stage needs at least one layer; use fewer {chunks} or devices (at most %d stages) or more {layers}", n, p/n, p, L, L)
	}
	if strings.HasPrefix(stageDevices[0], "rank") && strings.Contains(stageDevices[0], "/") { // a run of several processes: rank0/cpu:0, …
		return field.Errorf("devices", "model: %d devices over the ranks but only %d layers: every stage needs at least one layer; start fewer ranks or give each fewer {devices} (at most %d devices in all), or more {layers}", p, L, L)
	}
	return field.Errorf("devices", "model: %d devices but only %d layers: every stage needs at least one layer; use {devices} with at most %d devices or more {layers}", p, L, L)
}

// Split is the number of blocks of each stage, in stage order.
func (p *Plan) Split() []int {
	out := make([]int, len(p.Stages))
	for i, s := range p.Stages {
		out[i] = s.Blocks()
	}
	return out
}

// Devices is how many devices the stages lie on: fewer than the stages
// with chunks; over every rank in a run of several.
func (p *Plan) Devices() int {
	names := make([]string, len(p.Stages))
	for i, s := range p.Stages {
		names[i] = s.Device
	}
	return devicesOf(names)
}

// Stashes is each stage's micro-batch stashes (Stage.Stashes), in stage order.
func (p *Plan) Stashes() []int {
	out := make([]int, len(p.Stages))
	for i, s := range p.Stages {
		out[i] = s.Stashes
	}
	return out
}
