// The split of a plan: given by the user (a block count per stage, a stage per block) and checked, or balanced by FLOPs.

package model

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"baton/internal/field"
)

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
			return nil, field.Errorf(name, ref+" %q: entry %d (%q) is not an integer; give integers separated by commas, such as 4,8", s, i+1, strings.TrimSpace(f))
		}
		out[i] = n
	}
	return out, nil
}

// checkSplit returns split when it gives every one of the stages (a device
// named for each, once per chunk) at least one of L blocks and all L
// blocks in total.
func checkSplit(L int, stageDevices []string, split []int) ([]int, error) {
	p := len(stageDevices)
	if n := devicesOf(stageDevices); len(split) != p && n < p {
		return nil, field.Errorf("split", "model: {split} %s has %d entries but there are %d devices × %d chunks = %d stages; give one block count per stage, %d in all, e.g. {split} %s",
			JoinInts(split), len(split), n, p/n, p, p, JoinInts(evenSplit(L, p)))
	}
	if len(split) != p {
		return nil, field.Errorf("split", "model: {split} %s has %d entries but there are %d devices; give one block count per device ({devices}), e.g. {split} %s", JoinInts(split), len(split), p, JoinInts(evenSplit(L, p)))
	}
	sum := 0
	for i, k := range split {
		if k <= 0 {
			return nil, field.Errorf("split", "model: {split} %s gives stage %d %d layers: every stage needs at least one layer; e.g. {split} %s", JoinInts(split), i, k, JoinInts(evenSplit(L, p)))
		}
		if k > L {
			return nil, field.Errorf("split", "model: {split} %s gives stage %d %d layers but the model has only %d; e.g. {split} %s", JoinInts(split), i, k, L, JoinInts(evenSplit(L, p)))
		}
		sum += k
	}
	if sum != L {
		return nil, field.Errorf("split", "model: {split} %s sums to %d but the model has %d layers; give counts that sum to %d, e.g. {split} %s", JoinInts(split), sum, L, L, JoinInts(evenSplit(L, p)))
	}
	return append([]int(nil), split...), nil
}

// layerMapSplit turns a per-layer device map into a split. It must give each
// device one contiguous range, in device order, because a stage is one range.
// With chunks (a device named once per stage) the map's indices are stages,
// and its errors say so.
func layerMapSplit(L int, devices []string, m []int) ([]int, error) {
	p, n := len(devices), devicesOf(devices)
	unit, chunked := "device", n < p
	if chunked {
		unit = "stage"
	}
	if len(m) != L {
		return nil, field.Errorf("layer-map", "model: {layer-map} %s has %d entries but the model has %d layers; give one %s index per layer", JoinInts(m), len(m), L, unit)
	}
	stages := fmt.Sprintf("%d devices × %d chunks = %d stages", n, p/n, p)
	counts := make([]int, p)
	for l, d := range m {
		if d < 0 || d >= p {
			if chunked {
				return nil, field.Errorf("layer-map", "model: {layer-map} %s puts layer %d on stage %d but there are %s; with chunks each index is a stage, 0..%d in pipeline order", JoinInts(m), l, d, stages, p-1)
			}
			return nil, field.Errorf("layer-map", "model: {layer-map} %s puts layer %d on device %d but there are %d devices; use indices 0..%d into {devices}", JoinInts(m), l, d, p, p-1)
		}
		counts[d]++
	}
	for d, n := range counts {
		if n == 0 && chunked {
			return nil, field.Errorf("layer-map", "model: {layer-map} %s gives stage %d (on %s) no layer: %s and every stage needs at least one layer; with chunks each index is a stage, e.g. {layer-map} %s",
				JoinInts(m), d, devices[d], stages, JoinInts(mapOf(evenSplit(L, p))))
		}
		if n == 0 {
			return nil, field.Errorf("layer-map", "model: {layer-map} %s gives device %d (%s) no layer: every device is a stage and needs at least one layer; map a layer to it or drop it from {devices}", JoinInts(m), d, devices[d])
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
			return nil, field.Errorf("layer-map", "model: {layer-map} %s is not contiguous (%s %d runs layers %s): every layer boundary would become a device crossing and the pipeline stays sequential; give each %s one contiguous range, e.g. {split} %s",
				JoinInts(m), unit, d, runsOf(m, d), unit, JoinInts(counts))
		}
	}
	for l := 1; l < L; l++ {
		if m[l] < m[l-1] && chunked {
			return nil, field.Errorf("layer-map", "model: {layer-map} %s runs stage %d after stage %d: stages run in pipeline order, 0..%d; use {split} %s",
				JoinInts(m), m[l], m[l-1], p-1, JoinInts(splitInMapOrder(m)))
		}
		if m[l] < m[l-1] {
			return nil, field.Errorf("layer-map", "model: {layer-map} %s runs device %d after device %d: stages follow the order of {devices}; list the devices in pipeline order and use {split} %s",
				JoinInts(m), m[l], m[l-1], JoinInts(splitInMapOrder(m)))
		}
	}
	return counts, nil
}

// devicesOf is how many devices the stages lie on: fewer than the stages
// with chunks.
func devicesOf(stageDevices []string) int {
	named := map[string]bool{}
	for _, d := range stageDevices {
		named[d] = true
	}
	return len(named)
}

// balance returns the split of cfg.L blocks over p stages that minimises the
// largest stage cost in FLOPs per token (the head's on the last stage).
func balance(cfg Config, p, T int) []int {
	block, head := cfg.BlockFLOPsPerToken(T), cfg.HeadFLOPsPerToken()
	return MinMaxSplit(cfg.L, p, func(s, k int) float64 {
		c := float64(k) * block
		if s == p-1 {
			c += head
		}
		return c
	})
}

// MinMaxSplit returns the split of L blocks over p stages that minimises the
// largest cost(stage, blocks); among those, the one with the most even block
// counts (least sum of squares); among those, the one that puts extra blocks
// on earlier stages. A cost of +Inf marks a stage that cannot hold so many
// blocks (its memory): nil when no split avoids one. Exact: a dynamic program
// over contiguous splits, O(p·L²), run twice (the optimum, then the most
// even split within it).
func MinMaxSplit(L, p int, cost func(stage, blocks int) float64) []int {
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
	if math.IsInf(limit, 1) {
		return nil
	}
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

// mapOf is the layer map of a split: stage s for each of its blocks.
func mapOf(split []int) []int {
	var out []int
	for s, k := range split {
		for range k {
			out = append(out, s)
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
