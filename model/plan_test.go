// Tests of the partition planner: balanced splits, explicit splits, errors, output forms.

package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"baton/internal/field"
)

// asFlags is err's message as the CLI shows it, each field named as its flag.
func asFlags(err error) string {
	return field.Render(err, func(f string) string { return "--" + f })
}

func cpus(n int) []string {
	d := make([]string, n)
	for i := range d {
		d[i] = fmt.Sprintf("cpu:%d", i)
	}
	return d
}

func mustPlan(t *testing.T, cfg Config, p int, opts PlanOptions) *Plan {
	t.Helper()
	plan, err := Partition(cfg, cpus(p), opts)
	if err != nil {
		t.Fatalf("Partition(%v, %d devices, %+v): %v", cfg, p, opts, err)
	}
	return plan
}

func maxStageFLOPs(p *Plan) float64 {
	m := 0.0
	for _, s := range p.Stages {
		m = max(m, s.FLOPsPerToken)
	}
	return m
}

func TestPlan24LayersOn4(t *testing.T) {
	cfg := Presets["small"]
	cfg.L = 24
	plan := mustPlan(t, cfg, 4, PlanOptions{})
	want := [][2]int{{0, 5}, {6, 11}, {12, 17}, {18, 23}}
	for i, s := range plan.Stages {
		if s.Index != i || s.Device != fmt.Sprintf("cpu:%d", i) || s.FirstLayer != want[i][0] || s.LastLayer != want[i][1] {
			t.Errorf("stage %d = %+v, want layers %d–%d on cpu:%d", i, s, want[i][0], want[i][1], i)
		}
		if s.Embed != (i == 0) || s.Head != (i == 3) {
			t.Errorf("stage %d: embed=%v head=%v", i, s.Embed, s.Head)
		}
	}
}

func TestPlanSmallEven(t *testing.T) {
	for _, p := range []int{1, 2, 4, 8} {
		plan := mustPlan(t, Presets["small"], p, PlanOptions{})
		want := slices.Repeat([]int{8 / p}, p)
		if got := plan.Split(); !slices.Equal(got, want) {
			t.Errorf("small on %d devices: split %v, want %v", p, got, want)
		}
	}
}

func TestPlanGPT2On4(t *testing.T) {
	cfg := Presets["gpt2-124m"]
	plan := mustPlan(t, cfg, 4, PlanOptions{B: 4, T: 1024})
	t.Logf("\n%s", plan)
	split := plan.Split()
	last := split[len(split)-1]
	for i, k := range split[:len(split)-1] {
		if last > k {
			t.Errorf("split %v: last stage has %d blocks, more than stage %d's %d", split, last, i, k)
		}
	}
	best, _ := bruteForce(cfg, 4, 1024)
	if got := maxStageFLOPs(plan); got != best {
		t.Errorf("split %v: largest stage %g FLOPs/token, brute force finds %g", split, got, best)
	}
}

// bruteForce returns the least largest-stage cost over every contiguous split
// of cfg.L blocks into p stages, and the least sum of squared block counts
// among the splits that reach it.
func bruteForce(cfg Config, p, T int) (float64, int) {
	best, bestSq := math.Inf(1), 0
	var rec func(split []int, left int)
	rec = func(split []int, left int) {
		if len(split) == p-1 {
			if left < 1 {
				return
			}
			full := append(slices.Clone(split), left)
			m, sq := 0.0, 0
			for s, k := range full {
				c := float64(k) * cfg.BlockFLOPsPerToken(T)
				if s == p-1 {
					c += cfg.HeadFLOPsPerToken()
				}
				m = max(m, c)
				sq += k * k
			}
			if m < best || (m == best && sq < bestSq) {
				best, bestSq = m, sq
			}
			return
		}
		for k := 1; k <= left-(p-1-len(split)); k++ {
			rec(append(split, k), left-k)
		}
	}
	rec(nil, cfg.L)
	return best, bestSq
}

func TestPlanMatchesBruteForce(t *testing.T) {
	for _, V := range []int{256, 4096, 50304} {
		for L := 1; L <= 12; L++ {
			for p := 1; p <= min(L, 5); p++ {
				cfg := Config{V: V, MaxT: 256, C: 128, NH: 4, L: L}
				plan := mustPlan(t, cfg, p, PlanOptions{})
				best, bestSq := bruteForce(cfg, p, 256)
				sq := 0
				for _, k := range plan.Split() {
					sq += k * k
				}
				if got := maxStageFLOPs(plan); got != best || sq != bestSq {
					t.Errorf("V=%d L=%d p=%d: split %v has max %g, squares %d; brute force %g, %d", V, L, p, plan.Split(), got, sq, best, bestSq)
				}
			}
		}
	}
}

func TestPlanParamsSum(t *testing.T) {
	for _, name := range PresetNames() {
		cfg := Presets[name]
		for p := 1; p <= min(cfg.L, 4); p++ {
			plan := mustPlan(t, cfg, p, PlanOptions{})
			var sum int64
			for _, s := range plan.Stages {
				sum += s.Params
				if held := sumElems(cfg.StageTensors(s)); s.Params != held { // the closed form and the tensors a stage holds
					t.Errorf("%s on %d devices, stage %d: %d params, but it holds tensors of %d", name, p, s.Index, s.Params, held)
				}
			}
			want := cfg.NumParams()
			if p > 1 {
				want += int64(cfg.V) * int64(cfg.C) // the head's copy of wte
			}
			if sum != want {
				t.Errorf("%s on %d devices: stage params sum to %d, want %d", name, p, sum, want)
			}
		}
	}
}

// TestPlanMemory: a second micro-batch in flight adds one stash on every
// stage: StageActElems float32 (what transformer's test finds NewActs
// allocating), the gradients at the stage's two ends, and the tokens on the
// first stage and the targets on the last. tiny's buffers at B=128 are
// multiples of 512 bytes, which the CUDA allocator does not round.
func TestPlanMemory(t *testing.T) {
	cfg := Presets["tiny"]
	const B, T = 128, 16
	one := mustPlan(t, cfg, 2, PlanOptions{B: B, T: T, Stashes: []int{1, 1}, Microbatches: 2})
	two := mustPlan(t, cfg, 2, PlanOptions{B: B, T: T, Stashes: []int{2, 2}, Microbatches: 2})
	N := int64(B * T)
	for i := range one.Stages {
		s1, s2 := one.Stages[i], two.Stages[i]
		stash := 4 * (cfg.StageActElems(s1.Blocks(), B, T) + 2*N*int64(cfg.C) + N) // tokens or targets
		if s2.MemBytes-s1.MemBytes != stash {
			t.Errorf("stage %d: a second micro-batch in flight adds %d bytes, want %d", i, s2.MemBytes-s1.MemBytes, stash)
		}
	}
}

// TestPlanCountsEachStagesStashes: 1f1b on 4 stages with 4 micro-batches
// or more makes the stages allocate 4, 4, 3, 2 stashes (the schedule's
// Stashes: p−s in flight, and after the first stage one more arriving).
// Each stage's estimate counts its own, not the most: the last stage, which
// also holds the logits, is charged two where the first is charged four.
// The header lists them.
func TestPlanCountsEachStagesStashes(t *testing.T) {
	cfg := Presets["tiny"]
	cfg.L = 4
	const B, T, m = 128, 16, 8 // m above every count: the losses do not grow with them
	stashes := []int{4, 4, 3, 2}
	plan := mustPlan(t, cfg, 4, PlanOptions{B: B, T: T, Stashes: stashes, Microbatches: m})
	for s, st := range plan.Stages {
		each := func(n int) int64 {
			b, _ := cfg.StageBytes(s, st.Blocks(), st.Embed, st.Head, PlanOptions{B: B, T: T, Stashes: slices.Repeat([]int{n}, 4), Microbatches: m})
			return b
		}
		one, stash := each(1), each(2)-each(1)
		if charged := 1 + float64(st.MemBytes-one)/float64(stash); charged != float64(stashes[s]) || st.Stashes != stashes[s] {
			t.Errorf("stage %d: charged %.2f stashes (Stashes %d), want %d", s, charged, st.Stashes, stashes[s])
		}
	}
	if plan.InFlight != 4 {
		t.Errorf("InFlight %d, want the most, 4", plan.InFlight)
	}
	if head := strings.SplitN(plan.String(), "\n", 2)[0]; !strings.HasSuffix(head, "stashes 4,4,3,2") {
		t.Errorf("header %q does not list the stashes 4,4,3,2", head)
	}
}

func TestPlanExplicit(t *testing.T) {
	cfg := Presets["small"]
	plan := mustPlan(t, cfg, 3, PlanOptions{Split: []int{3, 4, 1}})
	if got := plan.Split(); !slices.Equal(got, []int{3, 4, 1}) {
		t.Errorf("--split 3,4,1 gave %v", got)
	}
	again := mustPlan(t, cfg, 3, PlanOptions{Split: plan.Split()})
	if !slices.Equal(again.Stages, plan.Stages) {
		t.Errorf("Split round trip: %v then %v", plan.Stages, again.Stages)
	}
	mapped := mustPlan(t, cfg, 3, PlanOptions{LayerMap: []int{0, 0, 0, 1, 1, 1, 1, 2}})
	if !slices.Equal(mapped.Stages, plan.Stages) {
		t.Errorf("--layer-map 0,0,0,1,1,1,1,2 gave %v, want %v", mapped.Stages, plan.Stages)
	}
}

func TestPlanErrors(t *testing.T) {
	small := Presets["small"] // L=8
	tiny := Presets["tiny"]   // L=2
	cases := []struct {
		cfg  Config
		p    int
		opts PlanOptions
		want string
	}{
		{tiny, 4, PlanOptions{}, "4 devices but only 2 layers: every stage needs at least one layer; use --devices with at most 2 devices or more --layers"},
		{small, 0, PlanOptions{}, "no devices"},
		{small, 4, PlanOptions{Split: []int{2, 2, 2, 3}}, "--split 2,2,2,3 sums to 9 but the model has 8 layers"},
		{small, 4, PlanOptions{Split: []int{4, 0, 2, 2}}, "gives stage 1 0 layers: every stage needs at least one layer"},
		{small, 4, PlanOptions{Split: []int{5, -1, 2, 2}}, "gives stage 1 -1 layers"},
		{small, 4, PlanOptions{Split: []int{4, 4}}, "--split 4,4 has 2 entries but there are 4 devices"},
		{small, 2, PlanOptions{Split: []int{4, 4}, LayerMap: []int{0, 0, 0, 0, 1, 1, 1, 1}}, "both --split and --layer-map"},
		{small, 2, PlanOptions{LayerMap: []int{0, 0, 1}}, "--layer-map 0,0,1 has 3 entries but the model has 8 layers"},
		{small, 2, PlanOptions{LayerMap: []int{0, 0, 0, 0, 1, 1, 1, 2}}, "puts layer 7 on device 2 but there are 2 devices"},
		{small, 2, PlanOptions{LayerMap: []int{0, 0, 0, 0, 1, 1, -1, 1}}, "puts layer 6 on device -1"},
		{small, 3, PlanOptions{LayerMap: []int{0, 0, 0, 0, 2, 2, 2, 2}}, "gives device 1 (cpu:1) no layer"},
		{small, 4, PlanOptions{LayerMap: []int{0, 1, 2, 3, 0, 1, 2, 3}}, "--layer-map 0,1,2,3,0,1,2,3 is not contiguous (device 0 runs layers 0, 4): every layer boundary would become a device crossing and the pipeline stays sequential; give each device one contiguous range, e.g. --split 2,2,2,2"},
		{small, 2, PlanOptions{LayerMap: []int{1, 1, 1, 0, 0, 0, 0, 0}}, "runs device 0 after device 1: stages follow the order of --devices; list the devices in pipeline order and use --split 3,5"},
		{small, 2, PlanOptions{T: 1000}, "context T=1000 is larger"},
		{small, 2, PlanOptions{B: -1}, "B=-1"},
		{small, 2, PlanOptions{Stashes: []int{2, -2}}, "stashes of stage 1 are -2"},
		{small, 2, PlanOptions{Stashes: []int{2, 2, 1}}, "3 stash counts for 2 stages"},
		{Config{V: 256, MaxT: 16, C: 30, NH: 4, L: 2}, 2, PlanOptions{}, "not divisible"},
	}
	for _, c := range cases {
		_, err := Partition(c.cfg, cpus(c.p), c.opts)
		if err == nil || !strings.Contains(asFlags(err), c.want) {
			t.Errorf("Partition(L=%d, %d devices, %+v) = %v, want an error containing %q", c.cfg.L, c.p, c.opts, err, c.want)
		}
	}
}

// TestPlanLayerMapWithChunksNamesStages: with chunks a device runs several
// stages and the layer map's indices are stages, so its errors count
// stages, not devices.
func TestPlanLayerMapWithChunksNamesStages(t *testing.T) {
	small := Presets["small"] // L=8
	stages := []string{"cpu:0", "cpu:1", "cpu:0", "cpu:1"}
	for _, c := range []struct {
		lmap []int
		want string
	}{
		{[]int{0, 0, 0, 0, 1, 1, 1, 1}, "--layer-map 0,0,0,0,1,1,1,1 gives stage 2 (on cpu:0) no layer: 2 devices × 2 chunks = 4 stages and every stage needs at least one layer; with chunks each index is a stage, e.g. --layer-map 0,0,1,1,2,2,3,3"},
		{[]int{0, 0, 1, 1, 2, 2, 3, 4}, "puts layer 7 on stage 4 but there are 2 devices × 2 chunks = 4 stages; with chunks each index is a stage, 0..3 in pipeline order"},
		{[]int{0, 1, 2, 3, 0, 1, 2, 3}, "is not contiguous (stage 0 runs layers 0, 4)"},
		{[]int{0, 0, 2, 2, 1, 1, 3, 3}, "runs stage 1 after stage 2: stages run in pipeline order, 0..3; use --split 2,2,2,2"},
		{[]int{0, 1, 2}, "has 3 entries but the model has 8 layers; give one stage index per layer"},
	} {
		_, err := Partition(small, stages, PlanOptions{LayerMap: c.lmap})
		if err == nil || !strings.Contains(asFlags(err), c.want) {
			t.Errorf("Partition(L=8, 2 devices × 2 chunks, --layer-map %s) = %v, want an error containing %q", JoinInts(c.lmap), err, c.want)
		}
	}
}

// TestPlanSplitWithChunksCountsStages: with chunks a split gives each
// stage, not each device, its block count.
func TestPlanSplitWithChunksCountsStages(t *testing.T) {
	_, err := Partition(Presets["small"], []string{"cpu:0", "cpu:1", "cpu:0", "cpu:1"}, PlanOptions{Split: []int{6, 2}})
	want := "--split 6,2 has 2 entries but there are 2 devices × 2 chunks = 4 stages; give one block count per stage, 4 in all, e.g. --split 2,2,2,2"
	if err == nil || !strings.Contains(asFlags(err), want) {
		t.Errorf("Partition(L=8, 2 devices × 2 chunks, --split 6,2) = %v, want an error containing %q", err, want)
	}
}

func TestPlanParseInts(t *testing.T) {
	got, err := ParseInts("split", " 6, 6,6 ,6")
	if err != nil || !slices.Equal(got, []int{6, 6, 6, 6}) {
		t.Errorf("ParseInts = %v, %v", got, err)
	}
	if got, err := ParseInts("split", ""); got != nil || err != nil {
		t.Errorf("ParseInts of empty = %v, %v; want nil, nil", got, err)
	}
	for _, bad := range []string{"6,,6", "6,x", "6;6", "1.5"} {
		_, err := ParseInts("split", bad)
		var fe *field.Error
		if !errors.As(err, &fe) || fe.Field != "split" || !strings.HasPrefix(asFlags(err), "--split ") || !strings.Contains(err.Error(), "not an integer") {
			t.Errorf("ParseInts(%q) error %v, want one about field split", bad, err)
		}
	}
}

func TestPlanOutput(t *testing.T) {
	cfg := Presets["small"]
	cfg.L = 24
	plan := mustPlan(t, cfg, 4, PlanOptions{B: 8, T: 128})
	s := plan.String()
	for _, want := range []string{"0-5 +embed", "6-11", "18-23 +head", "cpu:3", "MiB", "%"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() lacks %q:\n%s", want, s)
		}
	}
	data, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Stages []map[string]any `json:"stages"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Stages) != 4 {
		t.Fatalf("JSON has %d stages: %s", len(raw.Stages), data)
	}
	st := raw.Stages[1]
	for _, k := range []string{"stage", "device", "first_layer", "last_layer", "embed", "head", "params", "flops_per_token", "mem_bytes"} {
		if _, ok := st[k]; !ok {
			t.Errorf("JSON stage lacks %q: %v", k, st)
		}
	}
	if st["stage"] != 1.0 || st["device"] != "cpu:1" || st["first_layer"] != 6.0 || st["last_layer"] != 11.0 {
		t.Errorf("JSON stage 1 = %v", st)
	}
	var back Plan
	if err := json.Unmarshal(data, &back); err != nil || !slices.Equal(back.Stages, plan.Stages) || back.Config != plan.Config {
		t.Errorf("JSON round trip: %v, %+v", err, back)
	}
}

func TestPlanCheckCUDAHeadSize(t *testing.T) {
	ok := Config{V: 256, MaxT: 16, C: 256, NH: 2, L: 1}
	if err := ok.CheckCUDA(); err != nil {
		t.Fatalf("head size 128: %v", err)
	}
	bad := Config{V: 256, MaxT: 16, C: 258, NH: 2, L: 1}
	err := bad.CheckCUDA()
	if err == nil || !strings.Contains(err.Error(), "limit of 128") || !strings.Contains(asFlags(err), "--heads") {
		t.Fatalf("head size 129: %v", err)
	}
}
