package cpu

import "testing"

func TestChooseISA(t *testing.T) {
	for _, c := range []struct {
		env       string
		host, isa isa
	}{{"", avx2, avx2}, {"", generic, generic}, {"generic", avx2, generic}, {"avx2", avx2, avx2}} {
		if got := chooseISA(c.env, c.host); got != c.isa {
			t.Errorf("BATON_CPU=%q on %v: %v, want %v", c.env, c.host, got, c.isa)
		}
	}
	for _, c := range []struct {
		env  string
		host isa
	}{{"avx2", generic}, {"AVX2", avx2}, {"sse", avx2}} {
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
