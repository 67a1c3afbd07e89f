// Memory per precision: the precisions the estimate knows, a stage's bytes in one, and sizes as the user writes them.

package model

import (
	"math"
	"strconv"
	"strings"

	"baton/internal/field"
)

// Precisions are the precisions the memory estimate knows. fp32 and tf32
// keep the same bytes (tf32 changes only how matmuls round); bf16 keeps
// activations and gradients in half the bytes, and a bf16 copy of each weight
// beside its float32 master.
var Precisions = []string{"fp32", "tf32", "bf16"}

// MemFor is the stage's bytes in precision prec, one of Precisions.
func (s Stage) MemFor(prec string) int64 { return BytesIn(prec, s.MemBytes, s.MemBytesBF16) }

// BytesIn is, of an estimate's fp32 (and tf32) and bf16 bytes, those of
// precision prec, one of Precisions.
func BytesIn(prec string, fp32, bf16 int64) int64 {
	if prec == "bf16" {
		return bf16
	}
	return fp32
}

// units are the suffixes ParseSize accepts, longest first so "GiB" wins over "B".
var units = []struct {
	suffix string
	mult   float64
}{
	{"tib", 1 << 40}, {"gib", 1 << 30}, {"mib", 1 << 20}, {"kib", 1 << 10},
	{"tb", 1e12}, {"gb", 1e9}, {"mb", 1e6}, {"kb", 1e3},
	{"t", 1 << 40}, {"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}, {"b", 1},
}

// ParseSize reads a size such as 80GiB, 80G (binary, as GPUs report
// memory), 85GB (decimal) or a byte count, for the field name.
func ParseSize(name, s string) (int64, error) {
	num, mult := strings.ToLower(strings.TrimSpace(s)), 1.0
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	switch {
	case err == nil && f*mult < 1 && !math.IsNaN(f):
		// Under a byte would truncate to 0, which means no limit.
		return 0, field.Errorf(name, "{"+name+"} %s: a device's memory is a byte or more; give one such as 80GiB, or leave {"+name+"} out", s)
	case err != nil || !(f*mult < 1<<62): // NaN fails it too
		return 0, field.Errorf(name, "{"+name+"} %q is not a size; give one such as 80GiB, 24G or 40GB", s)
	}
	return int64(f * mult), nil
}
