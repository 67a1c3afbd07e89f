// Which instruction set the CPU kernels choose from what the CPU has and what BATON_CPU asks.

package cpu

import (
	"strings"
	"testing"
)

func TestChooseISA(t *testing.T) {
	for i, name := range []string{"generic", "avx2", "avx512"} {
		if got := isa(i).String(); got != name {
			t.Errorf("isa(%d).String() = %q, want %q", i, got, name)
		}
	}
	for _, c := range []struct {
		env       string
		host, isa isa
	}{
		{"", avx2, avx2}, {"", generic, generic}, {"", avx512, avx512},
		{"generic", avx2, generic}, {"generic", avx512, generic},
		{"avx2", avx2, avx2}, {"avx2", avx512, avx2}, {"avx512", avx512, avx512},
	} {
		if got, err := chooseISA(c.env, c.host); got != c.isa || err != nil {
			t.Errorf("BATON_CPU=%q on %v: %v (%v), want %v", c.env, c.host, got, err, c.isa)
		}
	}
	for _, c := range []struct {
		env  string
		host isa
	}{{"avx2", generic}, {"AVX2", avx2}, {"sse", avx2}, {"avx512", avx2}, {"avx512", generic}, {"avx-512", avx512}} {
		if got, err := chooseISA(c.env, c.host); err == nil || !strings.Contains(err.Error(), "BATON_CPU=") || got != c.host {
			t.Errorf("BATON_CPU=%q on %v: %v, %v; want an error naming BATON_CPU, and the default", c.env, c.host, got, err)
		}
	}
}
