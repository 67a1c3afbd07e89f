// The partition planner: which decoder blocks each device runs as a pipeline stage.

package model

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"baton/internal/field"
)

// Stage is one device's contiguous part of the decoder with its estimated cost.
type Stage struct {
	Index         int     `json:"stage"`
	Device        string  `json:"device"`
	FirstLayer    int     `json:"first_layer"`     // first decoder block, 0-based
	LastLayer     int     `json:"last_layer"`      // last decoder block, inclusive
	Embed         bool    `json:"embed"`           // holds the token and position embeddings
	Head          bool    `json:"head"`            // holds ln_f, the tied LM head and the loss
	Params        int64   `json:"params"`          // including the head's copy of wte on a last stage that is not also first
	FLOPsPerToken float64 `json:"flops_per_token"` // training (forward+backward) cost per token
	MemBytes      int64   `json:"mem_bytes"`       // parameters, gradients, AdamW state, stash and head scratch
}

// Blocks is the number of decoder blocks the stage runs.
func (s Stage) Blocks() int { return s.LastLayer - s.FirstLayer + 1 }

// Plan is a partition of a model over devices: one stage per device, in the
// order the devices were given, each with a contiguous range of blocks.
type Plan struct {
	Stages   []Stage `json:"stages"`
	Config   Config  `json:"config"`
	B        int     `json:"micro_batch"` // micro-batch size the memory estimate assumes
	T        int     `json:"context"`     // tokens per sequence for FLOPs and memory
	InFlight int     `json:"in_flight"`   // micro-batch stashes per stage: the most any stage allocates
}

// PlanOptions say how to split; without Split or LayerMap the planner balances.
type PlanOptions struct {
	Split    []int // blocks per stage, in device order (6,6,6,6); field "split"
	LayerMap []int // a device index per block (0,0,1,1); must be contiguous; field "layer-map"
	B, T     int   // micro-batch for the memory estimate; 0 means B=1 and T=cfg.MaxT
	InFlight int   // micro-batches in flight per stage for the memory estimate; 0 means 1
}

// Partition assigns cfg's blocks to devices, one stage per device in device
// order. An explicit Split or LayerMap is checked and used; otherwise the
// split minimises the largest stage's FLOPs per token (see balance).
func Partition(cfg Config, devices []string, opts PlanOptions) (*Plan, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := len(devices)
	if p == 0 {
		return nil, field.Errorf("devices", "model: no devices to plan for; give at least one with {devices}, e.g. {devices} cpu:0")
	}
	if p > cfg.L {
		return nil, field.Errorf("devices", "model: %d devices but only %d layers: every stage needs at least one layer; use {devices} with at most %d devices or more {layers}", p, cfg.L, cfg.L)
	}
	B, T, inFlight := opts.B, opts.T, opts.InFlight
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
	if inFlight == 0 {
		inFlight = 1
	}
	if inFlight < 0 {
		return nil, fmt.Errorf("model: plan micro-batches in flight is %d; give 1 or more (0 means 1)", inFlight)
	}

	var split []int
	var err error
	switch {
	case len(opts.Split) > 0 && len(opts.LayerMap) > 0:
		return nil, field.Errorf("split", "model: both {split} and {layer-map} given; they say the same thing, keep one (a contiguous {layer-map} is a {split})")
	case len(opts.Split) > 0:
		split, err = checkSplit(cfg.L, p, opts.Split)
	case len(opts.LayerMap) > 0:
		split, err = layerMapSplit(cfg.L, devices, opts.LayerMap)
	default:
		split = balance(cfg, p, T)
	}
	if err != nil {
		return nil, err
	}

	plan := &Plan{Config: cfg, B: B, T: T, InFlight: inFlight}
	first := 0
	for s, k := range split {
		st := Stage{Index: s, Device: devices[s], FirstLayer: first, LastLayer: first + k - 1, Embed: s == 0, Head: s == p-1}
		first += k
		st.Params = int64(k) * cfg.BlockParams()
		st.FLOPsPerToken = float64(k) * cfg.BlockFLOPsPerToken(T)
		stash := cfg.StageActElems(k, B, T)
		var scratch int64
		if st.Embed {
			st.Params += cfg.EmbeddingParams()
		}
		if st.Head {
			st.Params += cfg.HeadParams()
			if !st.Embed {
				// The LM head is tied to wte: a last stage apart from the first
				// keeps its own copy, with gradient and AdamW state.
				st.Params += int64(cfg.V) * int64(cfg.C)
			}
			st.FLOPsPerToken += cfg.HeadFLOPsPerToken()
			scratch = cfg.HeadScratchElems(B, T)
		}
		st.MemBytes = st.Params*BytesPerParam + 4*(int64(inFlight)*stash+scratch)
		plan.Stages = append(plan.Stages, st)
	}
	return plan, nil
}

// Split is the number of blocks of each stage, in stage order.
func (p *Plan) Split() []int {
	out := make([]int, len(p.Stages))
	for i, s := range p.Stages {
		out[i] = s.Blocks()
	}
	return out
}

// String is a table: one row per stage with its layers, parameters, memory
// estimate and share of the FLOPs.
func (p *Plan) String() string {
	var total float64
	for _, s := range p.Stages {
		total += s.FLOPsPerToken
	}
	var b strings.Builder
	fmt.Fprintf(&b, "plan: %d layers on %d devices, split %s; memory for micro-batches of B=%d T=%d, %d in flight\n",
		p.Config.L, len(p.Stages), joinInts(p.Split()), p.B, p.T, p.InFlight)
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "stage\tdevice\tlayers\tparams\tmemory\tFLOPs")
	for _, s := range p.Stages {
		layers := layerRange(s.FirstLayer, s.LastLayer)
		if s.Embed {
			layers += " +embed"
		}
		if s.Head {
			layers += " +head"
		}
		share := 0.0
		if total > 0 {
			share = 100 * s.FLOPsPerToken / total
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%.1f%%\n", s.Index, s.Device, layers, humanCount(s.Params), humanBytes(s.MemBytes), share)
	}
	w.Flush()
	return b.String()
}

// ParseInts reads a comma-separated list such as "6,6,6,6" given to the
// field name ("split"); its error is a *field.Error about that field. An
// empty string is no list (nil), so an unset field needs no special case.
func ParseInts(name, s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	out := make([]int, len(parts))
	for i, f := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			ref := "{" + name + "}"
			return nil, field.Errorf(name, "model: "+ref+" %q: entry %d (%q) is not an integer; give comma-separated integers, e.g. "+ref+" 6,6,6,6", s, i, strings.TrimSpace(f))
		}
		out[i] = n
	}
	return out, nil
}

// checkSplit returns split when it gives every one of p stages at least one
// of L blocks and all L blocks in total.
func checkSplit(L, p int, split []int) ([]int, error) {
	if len(split) != p {
		return nil, field.Errorf("split", "model: {split} %s has %d entries but there are %d devices; give one block count per device ({devices}), e.g. {split} %s", joinInts(split), len(split), p, joinInts(evenSplit(L, p)))
	}
	sum := 0
	for i, k := range split {
		if k <= 0 {
			return nil, field.Errorf("split", "model: {split} %s gives stage %d %d layers: every stage needs at least one layer; e.g. {split} %s", joinInts(split), i, k, joinInts(evenSplit(L, p)))
		}
		if k > L {
			return nil, field.Errorf("split", "model: {split} %s gives stage %d %d layers but the model has only %d; e.g. {split} %s", joinInts(split), i, k, L, joinInts(evenSplit(L, p)))
		}
		sum += k
	}
	if sum != L {
		return nil, field.Errorf("split", "model: {split} %s sums to %d but the model has %d layers; give counts that sum to %d, e.g. {split} %s", joinInts(split), sum, L, L, joinInts(evenSplit(L, p)))
	}
	return append([]int(nil), split...), nil
}

// layerMapSplit turns a per-layer device map into a split. It must give each
// device one contiguous range, in device order, because a stage is one range.
func layerMapSplit(L int, devices []string, m []int) ([]int, error) {
	p := len(devices)
	if len(m) != L {
		return nil, field.Errorf("layer-map", "model: {layer-map} %s has %d entries but the model has %d layers; give one device index per layer", joinInts(m), len(m), L)
	}
	counts := make([]int, p)
	for l, d := range m {
		if d < 0 || d >= p {
			return nil, field.Errorf("layer-map", "model: {layer-map} %s puts layer %d on device %d but there are %d devices; use indices 0..%d into {devices}", joinInts(m), l, d, p, p-1)
		}
		counts[d]++
	}
	for d, n := range counts {
		if n == 0 {
			return nil, field.Errorf("layer-map", "model: {layer-map} %s gives device %d (%s) no layer: every device is a stage and needs at least one layer; map a layer to it or drop it from {devices}", joinInts(m), d, devices[d])
		}
	}
	// runs[d] lists the start of each maximal run of layers on device d.
	runs := make([][]int, p)
	for l, d := range m {
		if l == 0 || m[l-1] != d {
			runs[d] = append(runs[d], l)
		}
	}
	for d, r := range runs {
		if len(r) > 1 {
			return nil, field.Errorf("layer-map", "model: {layer-map} %s is not contiguous (device %d runs layers %s): every layer boundary would become a device crossing and the pipeline stays sequential; give each device one contiguous range, e.g. {split} %s",
				joinInts(m), d, runsOf(m, d), joinInts(counts))
		}
	}
	for l := 1; l < L; l++ {
		if m[l] < m[l-1] {
			return nil, field.Errorf("layer-map", "model: {layer-map} %s runs device %d after device %d: stages follow the order of {devices}; list the devices in pipeline order and use {split} %s",
				joinInts(m), m[l], m[l-1], joinInts(splitInMapOrder(m)))
		}
	}
	return counts, nil
}

// balance returns the split of cfg.L blocks over p stages that minimises the
// largest stage cost (FLOPs per token, the head's on the last stage); among
// those, the one with the most even block counts (least sum of squares); among
// those, the one that puts extra blocks on earlier stages. Exact: a dynamic
// program over contiguous splits, O(p·L²), run twice (the optimum, then the
// most even split within it).
func balance(cfg Config, p, T int) []int {
	L := cfg.L
	block, head := cfg.BlockFLOPsPerToken(T), cfg.HeadFLOPsPerToken()
	cost := func(s, k int) float64 {
		c := float64(k) * block
		if s == p-1 {
			c += head
		}
		return c
	}
	// worst[s][i]: the least possible largest cost of stages s.. over blocks i..
	worst := make([][]float64, p+1)
	for s := range worst {
		worst[s] = make([]float64, L+1)
		for i := range worst[s] {
			worst[s][i] = math.Inf(1)
		}
	}
	worst[p][L] = 0
	for s := p - 1; s >= 0; s-- {
		for i := s; i <= L-(p-s); i++ {
			for k := 1; i+k <= L-(p-s-1); k++ {
				worst[s][i] = min(worst[s][i], max(cost(s, k), worst[s+1][i+k]))
			}
		}
	}
	limit := worst[0][0]
	// squares[s][i]: the least sum of squared block counts of stages s.. over
	// blocks i.., with no stage above limit; -1 where none fits.
	squares := make([][]int, p+1)
	for s := range squares {
		squares[s] = make([]int, L+1)
		for i := range squares[s] {
			squares[s][i] = -1
		}
	}
	squares[p][L] = 0
	for s := p - 1; s >= 0; s-- {
		for i := s; i <= L-(p-s); i++ {
			for k := 1; i+k <= L-(p-s-1); k++ {
				rest := squares[s+1][i+k]
				if rest < 0 || cost(s, k) > limit {
					continue
				}
				if q := rest + k*k; squares[s][i] < 0 || q < squares[s][i] {
					squares[s][i] = q
				}
			}
		}
	}
	split := make([]int, 0, p)
	for s, i := 0, 0; s < p; s++ {
		for k := L - i - (p - s - 1); k >= 1; k-- { // largest first: extra blocks go early
			rest := squares[s+1][i+k]
			if rest >= 0 && cost(s, k) <= limit && rest+k*k == squares[s][i] {
				split = append(split, k)
				i += k
				break
			}
		}
	}
	return split
}

// evenSplit spreads L blocks over p stages, the remainder on the first ones.
func evenSplit(L, p int) []int {
	if p <= 0 || p > L {
		return nil
	}
	out := make([]int, p)
	for i := range out {
		out[i] = L / p
		if i < L%p {
			out[i]++
		}
	}
	return out
}

// splitInMapOrder is the block count of each run of a contiguous layer map.
func splitInMapOrder(m []int) []int {
	var out []int
	for l := range m {
		if l == 0 || m[l] != m[l-1] {
			out = append(out, 0)
		}
		out[len(out)-1]++
	}
	return out
}

// runsOf lists device d's runs of layers in m, e.g. "0–1, 4".
func runsOf(m []int, d int) string {
	var parts []string
	for l := 0; l < len(m); l++ {
		if m[l] != d {
			continue
		}
		end := l
		for end+1 < len(m) && m[end+1] == d {
			end++
		}
		parts = append(parts, layerRange(l, end))
		l = end
	}
	return strings.Join(parts, ", ")
}

func layerRange(first, last int) string {
	if first == last {
		return strconv.Itoa(first)
	}
	return fmt.Sprintf("%d–%d", first, last)
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// humanCount writes a parameter count as 124.4M.
func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return strconv.FormatInt(n, 10)
}

// humanBytes writes a size in binary units, as 1.50 GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n)/unit, 0
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.2f %ciB", f, "KMGTP"[i])
}
