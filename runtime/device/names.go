// Device names: parsed once from the user's list into typed Names, expanded (cpu:0..3, cuda:0/4) and checked.

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
// as written "cuda:0/4", before Expand).
type Name struct {
	Kind        Kind
	Index       int
	Parts, Part int
	Slow        float64
}

// String is the device's name: "cpu:1", "cpu:1~2", "cuda:0", "cuda:0/4" or "cuda:0/4#2".
func (n Name) String() string {
	switch {
	case n.Kind == KindCPU && n.Slow > 1:
		return fmt.Sprintf("%s:%d~%s", n.Kind, n.Index, strconv.FormatFloat(n.Slow, 'g', -1, 64))
	case n.Kind == KindCPU || n.Parts == 0:
		return fmt.Sprintf("%s:%d", n.Kind, n.Index)
	case n.Part < 0:
		return fmt.Sprintf("%s:%d/%d", n.Kind, n.Index, n.Parts)
	}
	return fmt.Sprintf("%s:%d/%d#%d", n.Kind, n.Index, n.Parts, n.Part)
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

// MaxPartitions bounds K in cuda:N/K before any GPU is asked; the GPU's own
// limit (its SMs over the smallest green-context group) is checked on open.
const MaxPartitions = 256

// Expand checks a device list and returns one name per device, with
// "cpu:0..3" expanded and "cuda:0/4" expanded into its partitions
// "cuda:0/4#0" … "cuda:0/4#3". It opens nothing. A GPU is used either whole
// or split one way: "cuda:0,cuda:0/4" and "cuda:0/2,cuda:0/4" are refused,
// as are cpu: and cuda: devices in one list (no transfer joins them).
func Expand(list string) ([]Name, error) {
	if strings.TrimSpace(list) == "" {
		return nil, field.Errorf("devices", "{devices} is empty; give e.g. cpu:0,cpu:1 or cuda:0")
	}
	seen := map[Name]bool{}
	splits := map[int]int{} // GPU → partitions it is split into (0: used whole)
	var out []Name
	var kinds []Kind
	for _, raw := range strings.Split(list, ",") {
		expanded, err := expandOne(strings.TrimSpace(raw), splits)
		if err != nil {
			return nil, err
		}
		for _, e := range expanded {
			key := e
			key.Slow = 0 // cpu:1 and cpu:1~2 are one device
			if seen[key] {
				return nil, field.Errorf("devices", "{devices}: %s is listed twice; each stage needs its own device", e)
			}
			seen[key] = true
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

// expandOne expands one entry of a list; splits records how each GPU has
// been used so far.
func expandOne(name string, splits map[int]int) ([]Name, error) {
	kind, idx, ok := strings.Cut(name, ":")
	switch {
	case !ok || (kind != string(KindCPU) && kind != string(KindCUDA)):
		return nil, field.Errorf("devices", "{devices}: unknown device %q; use cpu:N (virtual CPU device, cpu:N~F for one F times slower), cuda:N (GPU N) or cuda:N/K (GPU N split into K SM partitions)", name)
	case kind == string(KindCPU):
		return expandCPU(name, idx)
	case !Available(KindCUDA):
		return nil, field.Errorf("devices", "{devices} %s: this binary was built without CUDA support; build with -tags cuda", name)
	}
	c, err := ParseName(name)
	if err != nil {
		return nil, err
	}
	if k, ok := splits[c.Index]; ok && k != c.Parts {
		if k == 0 || c.Parts == 0 {
			return nil, field.Errorf("devices", "{devices}: GPU %d is listed both whole (cuda:%d) and split (cuda:%d/%d); use it one way", c.Index, c.Index, c.Index, max(k, c.Parts))
		}
		return nil, field.Errorf("devices", "{devices}: GPU %d is split both %d and %d ways; split it one way", c.Index, k, c.Parts)
	}
	splits[c.Index] = c.Parts
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

// ParseName parses one device: "cpu:N", "cuda:N", "cuda:N/K" or "cuda:N/K#i".
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
		return Name{}, field.Errorf("devices", "{devices}: unknown device %q; use cpu:N (virtual CPU device), cuda:N (GPU N) or cuda:N/K (GPU N split into K SM partitions)", name)
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
	parts, part, one := strings.Cut(rest, "#")
	if c.Parts, err = strconv.Atoi(parts); err != nil || c.Parts < 1 || c.Parts > MaxPartitions {
		return Name{}, field.Errorf("devices", "{devices}: bad device %q; the partition count after / must be a number from 1 to %d, as in cuda:0/4", name, MaxPartitions)
	}
	if one {
		if c.Part, err = strconv.Atoi(part); err != nil || c.Part < 0 || c.Part >= c.Parts {
			return Name{}, field.Errorf("devices", "{devices}: bad device %q; the partition after # must be a number from 0 to %d", name, c.Parts-1)
		}
	}
	return c, nil
}
