// Precision's names, both ways.

package kernels

import (
	"strings"
	"testing"
)

func TestParsePrecision(t *testing.T) {
	for s, want := range map[string]Precision{"fp32": FP32, "TF32": TF32, " tf32 ": TF32, "bf16": BF16} {
		if p, err := ParsePrecision(s); err != nil || p != want {
			t.Errorf("ParsePrecision(%q) = %v, %v", s, p, err)
		}
	}
	for _, p := range Precisions {
		if q, err := ParsePrecision(p.String()); err != nil || q != p {
			t.Errorf("%v prints as %q, which parses to %v, %v", p, p.String(), q, err)
		}
	}
	if _, err := ParsePrecision("fp16"); err == nil || !strings.Contains(err.Error(), "bf16") {
		t.Errorf("ParsePrecision(fp16): %v", err)
	}
}
