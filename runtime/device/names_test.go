// Device names, checked in any build with a stand-in CUDA driver: expansion of cuda:N/K, one use per GPU, round trips, cleanup on errors.

package device

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"baton/internal/field"
)

// fakeCUDA stands in for the cuda build's driver for the length of a test.
func fakeCUDA(t *testing.T, open func(Name, Options) (Device, error)) {
	saved, had := drivers[KindCUDA]
	Register(KindCUDA, Driver{Open: open})
	t.Cleanup(func() {
		delete(drivers, KindCUDA)
		if had {
			drivers[KindCUDA] = saved
		}
	})
}

func TestExpandCUDANames(t *testing.T) {
	fakeCUDA(t, func(Name, Options) (Device, error) { return nil, errors.New("not here") })
	for _, c := range []struct {
		list string
		want []string
		err  string
	}{
		{list: "cuda:0", want: []string{"cuda:0"}},
		{list: "cuda:0/4", want: []string{"cuda:0/4#0", "cuda:0/4#1", "cuda:0/4#2", "cuda:0/4#3"}},
		{list: "cuda:1,cuda:0/2", want: []string{"cuda:1", "cuda:0/2#0", "cuda:0/2#1"}},
		{list: "cuda:0/4#3, cuda:0/4#1", want: []string{"cuda:0/4#3", "cuda:0/4#1"}},
		{list: "cuda:0/1", want: []string{"cuda:0/1#0"}},
		{list: "cuda:0,cuda:0/4", err: "GPU 0 is listed both whole (cuda:0) and split (cuda:0/4)"},
		{list: "cuda:0/4,cuda:0", err: "GPU 0 is listed both whole (cuda:0) and split (cuda:0/4)"},
		{list: "cuda:0/2,cuda:0/4", err: "GPU 0 is split both 2 and 4 ways"},
		{list: "cuda:0/4,cuda:0/4#2", err: "cuda:0/4#2 is listed twice"},
		{list: "cuda:0,cuda:0", err: "cuda:0 is listed twice"},
		{list: "cuda:0/0", err: "from 1 to 256"},
		{list: "cuda:0/257", err: "from 1 to 256"},
		{list: "cuda:0/4#4", err: "from 0 to 3"},
		{list: "cuda:0/4#", err: "from 0 to 3"},
		{list: "cuda:-1", err: "must be a number ≥ 0"},
		{list: "cpu:0,cuda:0", err: "cannot be mixed"},
	} {
		names, err := Expand(c.list)
		got := Strings(names)
		fe := (*field.Error)(nil)
		switch {
		case c.err != "" && (!errors.As(err, &fe) || fe.Field != "devices" || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: got %v, %v; want an error about field devices with %q", c.list, got, err, c.err)
		case c.err == "" && (err != nil || !slices.Equal(got, c.want)):
			t.Errorf("%q: got %v, %v; want %v", c.list, got, err, c.want)
		}
	}
}

func TestNameRoundTrip(t *testing.T) {
	for _, s := range []string{"cpu:0", "cpu:12", "cuda:0", "cuda:3/4", "cuda:1/8#7"} {
		c, err := ParseName(s)
		if err != nil || c.String() != s {
			t.Errorf("%q parsed to %+v (%v), which prints as %q", s, c, err, c.String())
		}
	}
}

// closeCounter is a device that counts its Closes.
type closeCounter struct {
	*CPU
	closed *int
}

func (c closeCounter) Close() error { *c.closed++; return nil }

// TestOpenClosesOnError: a device that cannot be opened closes
// every one opened before it, and the error is the opener's.
func TestOpenClosesOnError(t *testing.T) {
	closed := 0
	fakeCUDA(t, func(n Name, _ Options) (Device, error) {
		if n.String() == "cuda:0/4#2" {
			return nil, errors.New("cuda:0/4#2: out of memory")
		}
		return closeCounter{NewCPU(n.String()), &closed}, nil
	})
	names, err := Expand("cuda:0/4")
	if err != nil {
		t.Fatal(err)
	}
	devs, err := Open(names, Options{})
	if err == nil || !strings.Contains(err.Error(), "out of memory") || devs != nil {
		t.Fatalf("got %v, %v", devs, err)
	}
	if closed != 2 {
		t.Fatalf("%d devices closed; the 2 opened before the failure should be", closed)
	}
}
