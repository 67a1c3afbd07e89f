//go:build cuda

// Tests of uneven SM partitions (cuda:N/[S0,S1,…]): each green context of the SMs asked, in order; counts the GPU cannot give, and the stream fallback, refused with a valid example.

package cuda

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gorgonia.org/cu"

	"baton/runtime/device"
)

// TestCUDAUnevenPartitions: cuda:0/[2u,u,u] (u the driver's smallest SM
// group) opens three green contexts of those SMs in that order, whatever
// order the list names them in; each runs a kernel; the GPU cannot then be
// split another way.
func TestCUDAUnevenPartitions(t *testing.T) {
	unit, units := finestGroups(t)
	if units < 4 {
		t.Skipf("GPU 0 has %d SM groups; the test needs 4", units)
	}
	want := []int{2 * unit, unit, unit}
	spec := fmt.Sprintf("cuda:0/[%d,%d,%d]", want[0], want[1], want[2])
	for _, order := range [][]int{{0, 1, 2}, {2, 0}} {
		var list []string
		for _, i := range order {
			list = append(list, fmt.Sprintf("%s#%d", spec, i))
		}
		t.Run(strings.Join(list, ","), func(t *testing.T) {
			ds := openDevices(t, strings.Join(list, ","))
			for j, d := range ds {
				i := order[j]
				if d.Name() != list[j] || d.Mode() != "green" || d.SMs() != want[i] {
					t.Errorf("%s: %s, %s, %d SMs; want %s, green, %d SMs", list[j], d.Name(), d.Mode(), d.SMs(), list[j], want[i])
				}
				newBusy(t, d).launch(t, 10) // a failed launch fails the test
				d.Sync()
			}
			if devs, err := openList("cuda:0/4#1"); err == nil || !strings.Contains(err.Error(), "GPU 0 is already split as "+spec) {
				device.CloseAll(devs)
				t.Errorf("cuda:0/4#1 beside %s: %v; want GPU 0 is already split as %s", spec, err, spec)
			}
		})
	}
}

// TestCUDAUnevenRefused, on cudaemu set to 132 SMs, which it hands out in
// groups of 8 (128 usable): counts that are not multiples of 8, or that add up to
// more than 128, and any uneven split without green contexts are refused in
// one line naming the GPU's SMs and groups; the example each error gives
// opens with exactly its counts; nothing is left open.
func TestCUDAUnevenRefused(t *testing.T) {
	needEmulator(t)
	t.Setenv("CUDAEMU_SMS", "132")
	eights := strings.Repeat("8,", 16) + "8"
	for _, c := range []struct{ list, msg string }{
		{"cuda:0/[48,28,28,28]", "GPU 0 (cudaemu 0 (emulated on the CPU)) has 132 SMs, which green contexts hand out in groups of 8 (16 groups, 128 SMs); partition 1's 28 SMs are not a multiple of 8; give counts that are multiples of 8 and add up to at most 128, as in cuda:0/[48,24,24,24]"},
		{"cuda:0/[4,4]", "partition 0's 4 SMs are not a multiple of 8; give counts that are multiples of 8 and add up to at most 128, as in cuda:0/[8,8]"},
		{"cuda:0/[64,64,8]", "the counts add up to 136; give counts that are multiples of 8 and add up to at most 128, as in cuda:0/[48,40,40]"},
		{"cuda:0/[" + eights + "]", "17 partitions are more than its 16 groups; give counts that are multiples of 8 and add up to at most 128, as in cuda:0/[" + eights[:len(eights)-2] + "]"},
		{"cuda:0/[128]#0,cuda:0/[128]#0", "listed twice"},
	} {
		refused(t, c.list, c.msg)
		if m := regexp.MustCompile(`as in (cuda:0/\[[0-9,]+\])$`).FindStringSubmatch(c.msg); m != nil {
			devs, err := openList(m[1])
			if err != nil {
				t.Fatalf("the example %s: %v", m[1], err)
			}
			for i, d := range devs {
				if want := countAt(t, m[1], i); d.(*Device).SMs() != want {
					t.Errorf("%s: %d SMs; want %d", d.Name(), d.(*Device).SMs(), want)
				}
			}
			device.CloseAll(devs)
		}
	}
	t.Setenv(noGreenEnv, "1")
	refused(t, "cuda:0/[16,8,8]", "cuda:0/[16,8,8]: green contexts are unavailable (BATON_NO_GREEN_CONTEXTS is set), and partitions of chosen SM counts need them: streams of one context share all 132 SMs and cannot hold any apart; use a driver with green contexts (12.4 or newer, BATON_NO_GREEN_CONTEXTS unset), or cuda:0/3 for 3 stream partitions")
}

// refused checks that opening list fails in one line containing msg, and
// leaves no GPU held.
func refused(t *testing.T, list, msg string) {
	t.Helper()
	devs, err := openList(list)
	if err == nil {
		device.CloseAll(devs)
		t.Errorf("--devices %s: no error", list)
		return
	}
	if !strings.Contains(err.Error(), msg) || strings.Contains(err.Error(), "\n") {
		t.Errorf("--devices %s:\n%v\nwant one line containing\n%s", list, err, msg)
	}
	if open := OpenGPUs(); open != 0 {
		t.Errorf("--devices %s: %d GPUs still held after the error", list, open)
	}
	t.Logf("--devices %s: %v", list, err)
}

// countAt is SM count i of a list "cuda:0/[a,b,…]".
func countAt(t *testing.T, spec string, i int) int {
	t.Helper()
	counts := strings.Split(strings.TrimSuffix(spec[strings.Index(spec, "[")+1:], "]"), ",")
	c, err := strconv.Atoi(counts[i])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// finestGroups is the size of GPU 0's smallest green-context SM group and
// how many of them the driver makes; the test is skipped without green
// contexts.
func finestGroups(t *testing.T) (unit, units int) {
	t.Helper()
	d, err := cu.GetDevice(0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := finestSplit(d)
	if err != nil {
		t.Skipf("GPU 0 has no green contexts: %v", err)
	}
	if slices.Min(s.sms) != slices.Max(s.sms) {
		t.Fatalf("the driver split GPU 0 into groups of %v SMs; they should be equal", s.sms)
	}
	return s.sms[0], len(s.sms)
}

// needEmulator skips a test that sets cudaemu's SM count: a GPU has its own.
func needEmulator(t *testing.T) {
	t.Helper()
	d, err := cu.GetDevice(0)
	if err != nil {
		t.Fatal(err)
	}
	f, err := deviceFacts(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(f.name, "cudaemu") {
		t.Skipf("GPU 0 is %s: its SMs are what they are", f.name)
	}
}
