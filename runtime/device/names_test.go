// Device names, checked in any build with a stand-in CUDA driver: expansion of cuda:N/K and cuda:N/[S0,S1,…], one use per GPU, round trips, cleanup on errors.

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
		{list: "cuda:0/[48,28,28,28]", want: []string{"cuda:0/[48,28,28,28]#0", "cuda:0/[48,28,28,28]#1", "cuda:0/[48,28,28,28]#2", "cuda:0/[48,28,28,28]#3"}},
		{list: "cuda:1, cuda:0/[ 16, 08 ,8 ]", want: []string{"cuda:1", "cuda:0/[16,8,8]#0", "cuda:0/[16,8,8]#1", "cuda:0/[16,8,8]#2"}},
		{list: "cuda:0/[16,8,8]#2,cuda:0/[16,8,8]#0", want: []string{"cuda:0/[16,8,8]#2", "cuda:0/[16,8,8]#0"}},
		{list: "cuda:0/[32]", want: []string{"cuda:0/[32]#0"}},
		{list: "cuda:0/[16,16],cuda:1/[8,24]", want: []string{"cuda:0/[16,16]#0", "cuda:0/[16,16]#1", "cuda:1/[8,24]#0", "cuda:1/[8,24]#1"}},
		{list: "cuda:0/[]", err: `bad device "cuda:0/[]"; the list of SM counts is empty: give one count per partition, as in cuda:0/[48,28,28,28]`},
		{list: "cuda:0/[ ]", err: "the list of SM counts is empty"},
		{list: "cuda:0/[48,x]", err: `bad device "cuda:0/[48,x]"; "x" (partition 1) is not an SM count: give whole numbers, as in cuda:0/[48,28,28,28]`},
		{list: "cuda:0/[48,,8]", err: `"" (partition 1) is not an SM count`},
		{list: "cuda:0/[8.5]", err: `"8.5" (partition 0) is not an SM count`},
		{list: "cuda:0/[48,0]", err: `bad device "cuda:0/[48,0]"; partition 1 has 0 SMs: give each from 1 to 65536, as in cuda:0/[48,28,28,28]`},
		{list: "cuda:0/[-8,8]", err: "partition 0 has -8 SMs"},
		{list: "cuda:0/[99999999999999999999]", err: "is not an SM count"},
		{list: "cuda:0/[" + strings.Repeat("8,", 256) + "8]", err: "257 partitions, and at most 256 make sense"},
		{list: "cuda:0/[48,28", err: "close the list of SM counts with ], as in cuda:0/[48,28,28,28]"},
		{list: "cuda:0/[8,8]x", err: "after the list of SM counts comes nothing, or # and one partition"},
		{list: "cuda:0/[8,8]#2", err: "the partition after # must be a number from 0 to 1"},
		{list: "cuda:0/[8,8]#", err: "from 0 to 1"},
		{list: "cuda:0/4,cuda:0/[8,8]", err: "GPU 0 is split both as cuda:0/4 and as cuda:0/[8,8]; split it one way"},
		{list: "cuda:0/[16,8,8],cuda:0/3", err: "GPU 0 is split both as cuda:0/[16,8,8] and as cuda:0/3"},
		{list: "cuda:0/[16,8,8],cuda:0/[8,8,16]", err: "GPU 0 is split both as cuda:0/[16,8,8] and as cuda:0/[8,8,16]"},
		{list: "cuda:0/[16,16],cuda:0/2#1", err: "GPU 0 is split both as cuda:0/[16,16] and as cuda:0/2"},
		{list: "cuda:0/[16,16],cuda:0", err: "GPU 0 is listed both whole (cuda:0) and split (cuda:0/[16,16]); use it one way"},
		{list: "cuda:0,cuda:0/[16,16]#0", err: "GPU 0 is listed both whole (cuda:0) and split (cuda:0/[16,16])"},
		{list: "cuda:0/[16,16],cuda:0/[16,16]#1", err: "cuda:0/[16,16]#1 is listed twice"},
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
	for _, s := range []string{"cpu:0", "cpu:12", "cuda:0", "cuda:3/4", "cuda:1/8#7", "cuda:0/[48,28,28,28]", "cuda:2/[48,28,28,28]#3", "cuda:0/[1]#0"} {
		c, err := ParseName(s)
		if err != nil || c.String() != s {
			t.Errorf("%q parsed to %+v (%v), which prints as %q", s, c, err, c.String())
		}
	}
}

// TestUnevenSMs: an uneven split's Name keeps its SM counts in order, as
// written; spellings of one split are one Name; an even split has none.
func TestUnevenSMs(t *testing.T) {
	a, err := ParseName("cuda:0/[48,28,28,28]#1")
	if err != nil {
		t.Fatal(err)
	}
	if got := a.SMs(); !slices.Equal(got, []int{48, 28, 28, 28}) || a.Parts != 4 || a.Part != 1 {
		t.Errorf("%v: SMs %v, Parts %d, Part %d; want [48 28 28 28], 4, 1", a, got, a.Parts, a.Part)
	}
	b, err := ParseName("cuda:0/[ 48,+28, 028,28]#1")
	if err != nil || a != b {
		t.Errorf("two spellings of one partition differ: %+v and %+v (%v)", a, b, err)
	}
	for _, s := range []string{"cuda:0/4#1", "cuda:0", "cpu:1"} {
		if n, err := ParseName(s); err != nil || n.SMs() != nil {
			t.Errorf("%s: SMs %v (%v); want none", s, n.SMs(), err)
		}
	}
	if even, _ := ParseName("cuda:0/4#1"); even == a {
		t.Errorf("cuda:0/4#1 and %v are one Name", a)
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
