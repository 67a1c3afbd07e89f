// Device names: parsed once from the user's list into typed Names, expanded (cpu:0..3, cuda:0/4, cuda:0/[48,28,28,28]) and checked.

package device

import (
	"fmt"
	"strconv"
	"strings"

	"baton/internal/field"
)

// Kind is the kind of a device: which driver opens it.
type Kind string

// The kinds of device baton knows.
const (
	KindCPU  Kind = "cpu"  // a virtual device on the host's cores
	KindCUDA Kind = "cuda" // a GPU, or an SM partition of one
)

// Name is a parsed device name. A CPU device is Index, made Slow times
// slower when Slow > 1 ("cpu:1~2"); a CUDA device is GPU Index whole
// (Parts 0), or partition Part of it split into Parts (Part -1: all of them,
// as written "cuda:0/4", before Expand): of equal SM groups, or of the SM
// counts SMs returns ("cuda:0/[48,28,28,28]").
type Name struct {
	Kind        Kind
	Index       int
	Parts, Part int
	Slow        float64
	// sms are an uneven split's SM counts as written canonically
	// ("48,28,28,28"; "" for an even split): a string, not a slice, keeps
	// Name comparable (it is a map key), and only ParseName sets it, so
	// equal splits are equal Names.
	sms string
}

// SMs are the SM counts of an uneven split's partitions, in order; nil for
// a whole GPU, an even split or a CPU device.
func (n Name) SMs() []int {
	if n.sms == "" {
		return nil
	}
	var out []int
	for s := range strings.SplitSeq(n.sms, ",") {
		c, _ := strconv.Atoi(s) // canonical: ParseName checked every count
		out = append(out, c)
	}
	return out
}

// String is the device's name: "cpu:1", "cpu:1~2", "cuda:0", "cuda:0/4",
// "cuda:0/4#2", "cuda:0/[48,28,28,28]" or "cuda:0/[48,28,28,28]#2".
func (n Name) String() string {
	split := strconv.Itoa(n.Parts)
	if n.sms != "" {
		split = "[" + n.sms + "]"
	}
	switch {
	case n.Kind == KindCPU && n.Slow > 1:
		return fmt.Sprintf("%s:%d~%s", n.Kind, n.Index, strconv.FormatFloat(n.Slow, 'g', -1, 64))
	case n.Kind == KindCPU || n.Parts == 0:
		return fmt.Sprintf("%s:%d", n.Kind, n.Index)
	case n.Part < 0:
		return fmt.Sprintf("%s:%d/%s", n.Kind, n.Index, split)
	}
	return fmt.Sprintf("%s:%d/%s#%d", n.Kind, n.Index, split, n.Part)
}

// SlowDown is how many times slower than its device n runs: Slow, or 1
// for a device not slowed.
func (n Name) SlowDown() float64 { return max(n.Slow, 1) }

// Device is n at no slow-down: cpu:1 and cpu:1~2 are one device.
func (n Name) Device() Name {
	n.Slow = 0
	return n
}

// Strings are the names as strings, in order.
func Strings(names []Name) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n.String()
	}
	return out
}

// maxCPUDevices bounds a cpu:A..B range, which would otherwise let a typo
// ask for millions of devices.
const maxCPUDevices = 1024

// MaxPartitions bounds K in cuda:N/K, and the counts in cuda:N/[S0,S1,…],
// before any GPU is asked; the GPU's own limit (its SMs over the smallest
// green-context group) is checked on open.
const MaxPartitions = 256

// maxPartitionSMs bounds one count of cuda:N/[S0,S1,…] before any GPU is
// asked (no GPU has as many SMs), so that counts cannot overflow a sum.
const maxPartitionSMs = 1 << 16

// Expand checks a device list and returns one name per device, with
// "cpu:0..3" expanded and "cuda:0/4" expanded into its partitions
// "cuda:0/4#0" … "cuda:0/4#3" ("cuda:0/[16,8,8]" into "cuda:0/[16,8,8]#0"
// … "#2"). It opens nothing. A GPU is used either whole or split one way:
// "cuda:0,cuda:0/4", "cuda:0/2,cuda:0/4" and "cuda:0/2,cuda:0/[16,16]" are
// refused, as are cpu: and cuda: devices in one list (no transfer joins them).
func Expand(list string) ([]Name, error) {
	if strings.TrimSpace(list) == "" {
		return nil, field.Errorf("devices", "{devices} is empty; give e.g. cpu:0,cpu:1 or cuda:0")
	}
	seen := map[Name]Name{}  // a device, by the name it was first listed under
	splits := map[int]Name{} // GPU → how it is used: whole, or split (Part -1)
	var out []Name
	var kinds []Kind
	for _, raw := range splitList(list) {
		if strings.TrimSpace(raw) == "" {
			return nil, field.Errorf("devices", "{devices} %s has an empty entry (a comma too many?); list devices separated by single commas, such as cpu:0,cpu:1", list)
		}
		expanded, err := expandOne(strings.TrimSpace(raw), splits)
		if err != nil {
			return nil, err
		}
		for _, e := range expanded {
			key := e.Device()
			if first, ok := seen[key]; ok {
				twice := key.String()
				if first != e {
					twice = fmt.Sprintf("%s (as %s and %s)", key, first, e) // a slow-down names one device two ways
				}
				return nil, field.Errorf("devices", "{devices}: %s is listed twice; each stage needs its own device", twice)
			}
			seen[key] = e
			out = append(out, e)
			if len(kinds) == 0 || kinds[0] != e.Kind {
				kinds = append(kinds, e.Kind)
			}
		}
	}
	if len(kinds) > 1 {
		return nil, field.Errorf("devices", "{devices}: cpu: and cuda: devices cannot be mixed in one run (no transfer joins a GPU and a virtual CPU device); list only one kind")
	}
	return out, nil
}

// splitList splits a device list at the commas outside brackets: the
// commas of "cuda:0/[48,28,28,28]" separate SM counts, not devices.
func splitList(list string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range list {
		switch {
		case r == '[':
			depth++
		case r == ']' && depth > 0:
			depth--
		case r == ',' && depth == 0:
			out = append(out, list[start:i])
			start = i + 1
		}
	}
	return append(out, list[start:])
}

// expandOne expands one entry of a list; splits records how each GPU has
// been used so far.
func expandOne(name string, splits map[int]Name) ([]Name, error) {
	kind, idx, ok := strings.Cut(name, ":")
	switch {
	case !ok || (kind != string(KindCPU) && kind != string(KindCUDA)):
		return nil, field.Errorf("devices", "{devices}: unknown device %q; use cpu:N (virtual CPU device, cpu:N~F for one F times slower), cuda:N (GPU N), cuda:N/K (GPU N split into K SM partitions) or cuda:N/[S0,S1,…] (GPU N split into partitions of S0, S1, … SMs)", name)
	case kind == string(KindCPU):
		return expandCPU(name, idx)
	case !Available(KindCUDA):
		return nil, field.Errorf("devices", "{devices} %s: this binary was built without CUDA support; build with -tags cuda, or give {devices} cpu:0 (or more cpu: devices; a checkpoint continues on any)", name)
	}
	c, err := ParseName(name)
	if err != nil {
		return nil, err
	}
	whole := c
	whole.Part = -1
	if k, ok := splits[c.Index]; ok && k != whole {
		switch {
		case k.Parts == 0 || c.Parts == 0:
			split := k
			if k.Parts == 0 {
				split = whole
			}
			return nil, field.Errorf("devices", "{devices}: GPU %d is listed both whole (cuda:%d) and split (%s); use it one way", c.Index, c.Index, split)
		case k.sms == "" && c.sms == "":
			return nil, field.Errorf("devices", "{devices}: GPU %d is split both %d and %d ways; split it one way", c.Index, k.Parts, c.Parts)
		}
		return nil, field.Errorf("devices", "{devices}: GPU %d is split both as %s and as %s; split it one way", c.Index, k, whole)
	}
	splits[c.Index] = whole
	if c.Parts == 0 || c.Part >= 0 {
		return []Name{c}, nil
	}
	out := make([]Name, c.Parts)
	for i := range out {
		out[i] = c
		out[i].Part = i
	}
	return out, nil
}

// maxSlow bounds a CPU device's slow-down: beyond it a step takes hours.
const maxSlow = 100

// expandCPU expands "cpu:N" or "cpu:A..B", either with "~F" after it to make
// the devices F times slower.
func expandCPU(name, idx string) ([]Name, error) {
	idx, factor, slowed := strings.Cut(idx, "~")
	slow := 0.0
	if slowed {
		f, err := strconv.ParseFloat(factor, 64)
		if err != nil || !(f >= 1 && f <= maxSlow) {
			return nil, field.Errorf("devices", "{devices}: bad device %q; the slow-down after ~ must be a number from 1 to %d, as in cpu:1~2 (twice as slow)", name, maxSlow)
		}
		if f > 1 { // 1× is no slow-down: cpu:1~1 is cpu:1
			slow = f
		}
	}
	lo, hi, isRange := strings.Cut(idx, "..")
	if !isRange {
		i, err := strconv.Atoi(idx)
		if err != nil || i < 0 {
			return nil, field.Errorf("devices", "{devices}: bad device %q; the index after cpu: must be a number ≥ 0", name)
		}
		return []Name{{Kind: KindCPU, Index: i, Part: -1, Slow: slow}}, nil
	}
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || a < 0 || b < a {
		return nil, field.Errorf("devices", "{devices}: bad range %q; write cpu:0..3", name)
	}
	if b-a >= maxCPUDevices {
		return nil, field.Errorf("devices", "{devices}: %s is %d devices; at most %d virtual CPU devices make sense (each is a stage)", name, b-a+1, maxCPUDevices)
	}
	out := make([]Name, 0, b-a+1)
	for i := a; i <= b; i++ {
		out = append(out, Name{Kind: KindCPU, Index: i, Part: -1, Slow: slow})
	}
	return out, nil
}

// ParseName parses one device: "cpu:N", "cuda:N", "cuda:N/K", "cuda:N/K#i",
// "cuda:N/[S0,S1,…]" or "cuda:N/[S0,S1,…]#i".
func ParseName(name string) (Name, error) {
	if idx, ok := strings.CutPrefix(name, "cpu:"); ok {
		if strings.Contains(idx, "..") {
			return Name{}, field.Errorf("devices", "{devices}: %q is a range; name one device", name)
		}
		ns, err := expandCPU(name, idx)
		if err != nil {
			return Name{}, err
		}
		return ns[0], nil
	}
	idx, ok := strings.CutPrefix(name, "cuda:")
	if !ok {
		return Name{}, field.Errorf("devices", "{devices}: unknown device %q; use cpu:N (virtual CPU device), cuda:N (GPU N), cuda:N/K (GPU N split into K SM partitions) or cuda:N/[S0,S1,…] (GPU N split into partitions of S0, S1, … SMs)", name)
	}
	c := Name{Kind: KindCUDA, Part: -1}
	gpu, rest, split := strings.Cut(idx, "/")
	var err error
	if c.Index, err = strconv.Atoi(gpu); err != nil || c.Index < 0 {
		return Name{}, field.Errorf("devices", "{devices}: bad device %q; the GPU index after cuda: must be a number ≥ 0", name)
	}
	if !split {
		return c, nil
	}
	var part string
	var one bool
	if list, ok := strings.CutPrefix(rest, "["); ok {
		list, part, ok = strings.Cut(list, "]")
		if !ok {
			return Name{}, field.Errorf("devices", "{devices}: bad device %q; close the list of SM counts with ], as in cuda:%d/[48,28,28,28]", name, c.Index)
		}
		if c.sms, err = parseSMs(name, c.Index, list); err != nil {
			return Name{}, err
		}
		c.Parts = strings.Count(c.sms, ",") + 1
		if part, one = strings.CutPrefix(part, "#"); !one && part != "" {
			return Name{}, field.Errorf("devices", "{devices}: bad device %q; after the list of SM counts comes nothing, or # and one partition, as in cuda:%d/[48,28,28,28]#1", name, c.Index)
		}
	} else {
		var parts string
		parts, part, one = strings.Cut(rest, "#")
		if c.Parts, err = strconv.Atoi(parts); err != nil || c.Parts < 1 || c.Parts > MaxPartitions {
			return Name{}, field.Errorf("devices", "{devices}: bad device %q; the partition count after / must be a number from 1 to %d, as in cuda:0/4, or a list of SM counts, as in cuda:0/[48,28,28,28]", name, MaxPartitions)
		}
	}
	if one {
		if c.Part, err = strconv.Atoi(part); err != nil || c.Part < 0 || c.Part >= c.Parts {
			return Name{}, field.Errorf("devices", "{devices}: bad device %q; the partition after # must be a number from 0 to %d", name, c.Parts-1)
		}
	}
	return c, nil
}

// parseSMs checks the SM counts of "cuda:N/[S0,S1,…]" (list is what is
// between the brackets) and returns them canonically: "48,28,28,28".
func parseSMs(name string, gpu int, list string) (string, error) {
	example := fmt.Sprintf("cuda:%d/[48,28,28,28]", gpu)
	if strings.TrimSpace(list) == "" {
		return "", field.Errorf("devices", "{devices}: bad device %q; the list of SM counts is empty: give one count per partition, as in %s", name, example)
	}
	counts := strings.Split(list, ",")
	if len(counts) > MaxPartitions {
		return "", field.Errorf("devices", "{devices}: bad device %q; %d partitions, and at most %d make sense: give one SM count per partition, as in %s", name, len(counts), MaxPartitions, example)
	}
	out := make([]string, len(counts))
	for i, s := range counts {
		s = strings.TrimSpace(s)
		c, err := strconv.Atoi(s)
		switch {
		case err != nil:
			return "", field.Errorf("devices", "{devices}: bad device %q; %q (partition %d) is not an SM count: give whole numbers, as in %s", name, s, i, example)
		case c < 1 || c > maxPartitionSMs:
			return "", field.Errorf("devices", "{devices}: bad device %q; partition %d has %d SMs: give each from 1 to %d, as in %s", name, i, c, maxPartitionSMs, example)
		}
		out[i] = strconv.Itoa(c)
	}
	return strings.Join(out, ","), nil
}
