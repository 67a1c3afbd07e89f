//go:build cuda

// Splitting a GPU into SM partitions: green contexts of equal SM groups (cuda:N/K, or streams of one context where they are unavailable) or of the SM counts asked (cuda:N/[S0,S1,…]), after cuBLAS is primed on the whole GPU.

package cuda

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"gorgonia.org/cu"

	"baton/internal/field"
	kcuda "baton/kernels/cuda"
	"baton/runtime/device"
)

// noGreenEnv, when set, makes cuda:N/K use streams of one context instead of
// green contexts (to compare the two, or to get around a driver's bug).
const noGreenEnv = "BATON_NO_GREEN_CONTEXTS"

// makeSplit splits g as n (a split, Part -1) asks: into n.Parts green
// contexts, of equal SM groups or of the counts n.SMs, where the driver has
// them; else an even split is n.Parts streams of the primary context, and an
// uneven one is refused. The first cuBLAS handle is made on the primary
// context before any partition's.
func (g *gpuState) makeSplit(n device.Name) error {
	k, spec := n.Parts, n.String()
	if err := g.primeCuBLAS(); err != nil {
		return field.Errorf("devices", "{devices} %s: %w", spec, err)
	}
	why := greenAvailable()
	if os.Getenv(noGreenEnv) != "" {
		why = fmt.Errorf("%s is set", noGreenEnv)
	}
	uneven := n.SMs()
	if why == nil {
		var parts []partition
		var err error
		if uneven != nil {
			parts, err = g.greenSplitSMs(uneven, spec)
		} else {
			parts, err = g.greenSplit(k, spec)
		}
		var bad *badSplit
		switch {
		case err == nil:
			g.splitAs, g.split, g.taken = n, parts, make([]bool, k)
			return nil
		case errors.As(err, &bad):
			return err
		}
		why = err // the driver has green contexts but will not make these: fall back
	}
	if uneven != nil {
		return g.streamsCannotSplit(spec, k, why)
	}
	if k > g.facts.sms {
		return unavailable("{devices} %s: GPU %d (%s) has %d SMs; split it into at most %d partitions", spec, g.index, g.facts.name, g.facts.sms, g.facts.sms)
	}
	fmt.Fprintf(os.Stderr, "baton: %s: green contexts unavailable (%v); its %d partitions are streams of one context and share all %d SMs, so their kernels overlap only where they leave SMs free\n",
		spec, why, k, g.facts.sms)
	g.splitAs, g.split, g.taken = n, make([]partition, k), make([]bool, k)
	for i := range g.split {
		g.split[i] = partition{ctx: g.primary, sms: g.facts.sms}
	}
	return nil
}

// streamsCannotSplit refuses an uneven split where green contexts are
// unavailable (why): streams of one context share all SMs, so the counts
// asked would be silently ignored.
func (g *gpuState) streamsCannotSplit(spec string, k int, why error) error {
	return unavailable("{devices} %s: green contexts are unavailable (%v), and partitions of chosen SM counts need them: streams of one context share all %d SMs and cannot hold any apart; use a driver with green contexts (12.4 or newer, %s unset), or cuda:%d/%d for %d stream partitions",
		spec, why, g.facts.sms, noGreenEnv, g.index, k, k)
}

// badSplit is a split green contexts cannot make of the GPU (more
// partitions than it has SM groups, counts it cannot give): the user's to
// fix, so never a reason to fall back to streams.
type badSplit struct{ err error }

func (e *badSplit) Error() string { return e.err.Error() }
func (e *badSplit) Unwrap() error { return e.err }

// greenSplit makes k green contexts of equal SM groups, as large as the
// driver's granularity allows. minCount is the size of each group.
func (g *gpuState) greenSplit(k int, spec string) ([]partition, error) {
	total := g.facts.sms
	var split smSplit
	var lastErr error
	for minCount := total / k; minCount >= 1; minCount-- {
		s, err := splitSMs(g.dev, k, minCount)
		if err != nil { // a size the driver refuses (granularity): try the next
			lastErr = err
			continue
		}
		if len(s.sms) >= k {
			split = s
			break
		}
	}
	if len(split.sms) < k {
		most, err := maxGreenPartitions(g.dev)
		if err != nil || most == 0 {
			return nil, fmt.Errorf("splitting the %d SMs of GPU %d: %w", total, g.index, errors.Join(err, lastErr))
		}
		return nil, &badSplit{unavailable("{devices} %s: GPU %d (%s) has %d SMs and green contexts split it into at most %d partitions; use cuda:%d/%d or fewer",
			spec, g.index, g.facts.name, total, most, g.index, most)}
	}
	parts := make([]partition, 0, k)
	for i := range k {
		gc, ctx, sms, err := greenCreate(g.dev, split, i, 1)
		if err != nil {
			destroyParts(parts)
			return nil, fmt.Errorf("green context %d of %d SMs: %w", i, split.sms[i], err)
		}
		parts = append(parts, partition{green: gc, ctx: ctx, sms: sms})
	}
	return parts, nil
}

// greenSplitSMs makes one green context per count of sms, in order, each
// of exactly that many SMs. The driver splits the GPU once into groups of
// its granularity (its smallest group), and each partition takes as many of
// them, one after another, as its count needs: a green context combines
// only groups of one split, and a group cannot be split again.
func (g *gpuState) greenSplitSMs(sms []int, spec string) ([]partition, error) {
	units, err := finestSplit(g.dev)
	if err != nil {
		return nil, fmt.Errorf("splitting the %d SMs of GPU %d: %w", g.facts.sms, g.index, err)
	}
	unit, total := units.sms[0], 0
	for _, c := range sms {
		total += c
	}
	refuse := func(problem string) error {
		return &badSplit{unavailable("{devices} %s: GPU %d (%s) has %d SMs, which green contexts hand out in groups of %d (%d groups, %d SMs); %s; give counts that are multiples of %d and add up to at most %d, as in %s",
			spec, g.index, g.facts.name, g.facts.sms, unit, len(units.sms), unit*len(units.sms), problem, unit, unit*len(units.sms), exampleSplit(g.index, sms, unit, len(units.sms)))}
	}
	for i, c := range sms {
		if c%unit != 0 {
			return nil, refuse(fmt.Sprintf("partition %d's %d SMs are not a multiple of %d", i, c, unit))
		}
	}
	if len(sms) > len(units.sms) {
		return nil, refuse(fmt.Sprintf("%d partitions are more than its %d groups", len(sms), len(units.sms)))
	}
	if total > unit*len(units.sms) {
		return nil, refuse(fmt.Sprintf("the counts add up to %d", total))
	}
	parts := make([]partition, 0, len(sms))
	first := 0
	for i, c := range sms {
		gc, ctx, held, err := greenCreate(g.dev, units, first, c/unit)
		if err == nil && held != c {
			greenDestroy(gc)
			err = fmt.Errorf("the driver made it of %d SMs", held)
		}
		if err != nil {
			destroyParts(parts)
			return nil, fmt.Errorf("green context %d of %d SMs: %w", i, c, err)
		}
		parts = append(parts, partition{green: gc, ctx: ctx, sms: c})
		first += c / unit
	}
	return parts, nil
}

// exampleSplit is a split of GPU gpu into len(asked) partitions that its
// groups (units of unit SMs) allow, as near to asked as is simple: each
// count rounded down to a multiple of unit, else the groups shared out
// evenly. It is only shown; the counts asked are never changed.
func exampleSplit(gpu int, asked []int, unit, units int) string {
	k := len(asked)
	if k > units {
		k = units // no split into len(asked) exists: show the most there can be
	}
	n := make([]int, k)
	sum := 0
	for i := range n {
		n[i] = max(asked[i]/unit, 1)
		sum += n[i]
	}
	if sum > units {
		for i := range n {
			n[i] = units / k
		}
		n[0] += units % k
	}
	counts := make([]string, k)
	for i, c := range n {
		counts[i] = strconv.Itoa(c * unit)
	}
	return fmt.Sprintf("cuda:%d/[%s]", gpu, strings.Join(counts, ","))
}

// destroyParts destroys the green contexts of partitions made before a
// failure.
func destroyParts(parts []partition) {
	for _, p := range parts {
		greenDestroy(p.green)
	}
}

// maxGreenPartitions is how many groups of the smallest size the driver
// splits d's SMs into.
func maxGreenPartitions(d cu.Device) (int, error) {
	s, err := finestSplit(d)
	return len(s.sms), err
}

// finestSplit splits d's SMs into as many groups as the driver makes: of
// its smallest size, its granularity.
func finestSplit(d cu.Device) (smSplit, error) {
	if err := greenAvailable(); err != nil {
		return smSplit{}, err
	}
	var first error
	for minCount := 1; minCount <= 16; minCount++ { // the first size the driver takes is its smallest
		s, err := splitSMs(d, device.MaxPartitions, minCount)
		if err == nil && len(s.sms) > 0 {
			return s, nil
		}
		first = cmp.Or(first, err)
	}
	return smSplit{}, cmp.Or(first, errors.New("the driver splits them into no group"))
}

// primeCuBLAS makes the first cuBLAS handle of g on its primary context,
// before any partition's: cuBLAS keeps the heuristics of the first context
// it meets, and those of a partition of a few SMs are poor for the whole
// GPU (GPU.md). kernels/cuda keeps that handle for the life of the process,
// so the primary context it lives in is retained as long (one reference
// that is never released). The registry's lock is held.
func (g *gpuState) primeCuBLAS() error {
	if primed[g.index] {
		return nil
	}
	if _, err := g.dev.RetainPrimaryCtx(); err != nil {
		return check("cuDevicePrimaryCtxRetain", err)
	}
	if err := kcuda.PrimeCublas(g.primary); err != nil {
		g.dev.ReleasePrimaryCtx()
		var le *kcuda.LibraryError
		if errors.As(err, &le) {
			return le // the library's own words, as a whole GPU's open gives them
		}
		return fmt.Errorf("the first cuBLAS handle, on the primary context: %w", err)
	}
	primed[g.index] = true
	return nil
}

// primed are the GPUs whose primary context holds the first cuBLAS handle.
var primed = map[int]bool{}
