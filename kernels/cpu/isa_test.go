package cpu

import "testing"

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
		{"", avx2, avx2}, {"", generic, generic}, {"", avx512, avx2}, // avx512 is opt-in (issue 15)
		{"generic", avx2, generic}, {"generic", avx512, generic},
		{"avx2", avx2, avx2}, {"avx2", avx512, avx2}, {"avx512", avx512, avx512},
	} {
		if got := chooseISA(c.env, c.host); got != c.isa {
			t.Errorf("BATON_CPU=%q on %v: %v, want %v", c.env, c.host, got, c.isa)
		}
	}
	for _, c := range []struct {
		env  string
		host isa
	}{{"avx2", generic}, {"AVX2", avx2}, {"sse", avx2}, {"avx512", avx2}, {"avx512", generic}, {"avx-512", avx512}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("BATON_CPU=%q on %v: no panic", c.env, c.host)
				}
			}()
			chooseISA(c.env, c.host)
		}()
	}
}
