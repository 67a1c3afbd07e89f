//go:build cuda

// NCCL between two processes (this test binary, run again as rank 1): both directions at once, messages in posting order against the compute stream, and the error where the library is missing.

package cuda

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gorgonia.org/cu"

	"baton/kernels"
	"baton/runtime/device"
)

// The environment that makes this binary rank 1 of a two-rank test.
const (
	ncclRankEnv = "BATON_NCCL_TEST_RANK" // "1" in the second process
	ncclIDsEnv  = "BATON_NCCL_TEST_IDS"  // the communicators' ids, hex, comma-separated
)

// needNCCL skips a test where NCCL (real or cudaemu's) cannot be loaded.
func needNCCL(tb testing.TB) {
	tb.Helper()
	if _, err := NCCLVersion(); errors.Is(err, ErrNCCLMissing) {
		tb.Skipf("%v (cudaemu's is built by scripts/build-cudaemu.sh beside its libcuda.so.1)", err)
	} else if err != nil {
		tb.Fatal(err)
	}
}

// twoRanks runs body as rank 0 in this process and as rank 1 in a second
// one, this test binary run again on this test alone, told its rank and the
// ids of n communicators (made here) by environment. Each rank has a device
// of its own GPU where there are several, else GPU 0.
func twoRanks(t *testing.T, n int, body func(t *testing.T, d *Device, rank int, ids []NCCLID)) {
	if os.Getenv(ncclRankEnv) == "1" {
		var ids []NCCLID
		for _, s := range strings.Split(os.Getenv(ncclIDsEnv), ",") {
			var id NCCLID
			if b, err := hex.DecodeString(s); err != nil || len(b) != len(id) {
				t.Fatalf("%s: not an id: %q", ncclIDsEnv, s)
			} else {
				copy(id[:], b)
			}
			ids = append(ids, id)
		}
		body(t, rankDevice(t, 1), 1, ids)
		return
	}
	needNCCL(t)
	ids := make([]NCCLID, n)
	enc := make([]string, n)
	for i := range ids {
		var err error
		if ids[i], err = NewNCCLID(); err != nil {
			t.Fatal(err)
		}
		enc[i] = hex.EncodeToString(ids[i][:])
	}
	// NCCL 2.30 lets two ranks share a GPU when asked; earlier ones refuse (newComm skips).
	t.Setenv("NCCL_MULTI_RANK_GPU_ENABLE", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), ncclRankEnv+"=1", ncclIDsEnv+"="+strings.Join(enc, ","))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer cancel()
		if t.Failed() {
			cmd.Process.Kill() // it may wait for ever on this rank
		}
		err := cmd.Wait()
		switch {
		case t.Failed():
		case err != nil:
			t.Errorf("rank 1 (a second process): %v\n%s", err, out.String())
		case !strings.Contains(out.String(), "--- PASS") && !strings.Contains(out.String(), "--- SKIP"):
			t.Errorf("rank 1 (a second process) ran no test:\n%s", out.String())
		}
	})
	body(t, rankDevice(t, 0), 0, ids)
}

// rankDevice opens the device of a rank for a test.
func rankDevice(t *testing.T, rank int) *Device {
	gpu := 0
	if n, err := cu.NumDevices(); err == nil && n > 1 {
		gpu = rank % n
	}
	return openDevices(t, fmt.Sprintf("cuda:%d", gpu))[0]
}

// newComm joins a two-rank communicator for a test, closing it when the test
// ends; it skips where NCCL refuses two ranks on one GPU.
func newComm(t *testing.T, d *Device, id NCCLID, rank int) *Comm {
	t.Helper()
	c, err := NewComm(d, id, 2, rank)
	var ne *NCCLError
	if errors.As(err, &ne) && ne.Code == 5 && cuDeviceCount() == 1 {
		v, _ := NCCLVersion()
		t.Skipf("NCCL %s refuses two ranks on one GPU (before 2.30, \"Duplicate GPU detected\"): %v", v, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("rank %d: Close: %v", rank, err)
		}
	})
	return c
}

func cuDeviceCount() int {
	n, err := cu.NumDevices()
	if err != nil {
		return 0
	}
	return n
}

// message is n floats that say which message they are: tag*1e6 + i, exact in float32.
func message(tag, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(tag*1_000_000 + i)
	}
	return v
}

// expectMessage checks that b holds message(tag, its length), bit for bit.
func expectMessage(t *testing.T, d *Device, b kernels.Buffer, tag int, what string) {
	t.Helper()
	got := make([]float32, b.Len())
	d.Ops().Download(got, b)
	want := message(tag, len(got))
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: element %d of %d is %v, want %v", what, i, len(got), got[i], want[i])
		}
	}
}

// TestCUDANCCLExchange: two processes send each other 1 MiB at once, each
// posting its send first, on a communicator per direction and then with
// Exchange on one; every byte arrives.
func TestCUDANCCLExchange(t *testing.T) {
	twoRanks(t, 3, func(t *testing.T, d *Device, rank int, ids []NCCLID) {
		const n = 1<<18 + 5 // above a socket's buffer: on cudaemu each send waits for its receive
		peer := 1 - rank
		fwd, bwd := newComm(t, d, ids[0], rank), newComm(t, d, ids[1], rank)
		out, in := fwd, bwd // rank 0 sends forward and receives backward
		if rank == 1 {
			out, in = bwd, fwd
		}
		src, dst := d.Ops().Alloc(n), d.Ops().Alloc(n)
		d.Ops().Upload(src, message(rank, n))
		sent, err := out.Send(src, peer)
		if err != nil {
			t.Fatal(err)
		}
		if err := in.Recv(dst, peer); err != nil {
			t.Fatal(err)
		}
		d.Wait(sent)
		d.Sync()
		expectMessage(t, d, dst, peer, "a communicator per direction")

		both := newComm(t, d, ids[2], rank)
		d.Ops().Upload(src, message(10+rank, n))
		if err := both.Exchange(src, dst, peer); err != nil {
			t.Fatal(err)
		}
		d.Sync()
		expectMessage(t, d, dst, 10+peer, "Exchange on one communicator")
		for _, c := range []*Comm{fwd, bwd, both} {
			if err := c.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestCUDANCCLOrder: rank 0 sends six messages of three sizes, each source
// written by the compute stream just before its Send and rewritten after
// waiting on the send's event; rank 1 receives them in posting order, each
// copied by the compute stream just after its Recv.
func TestCUDANCCLOrder(t *testing.T) {
	twoRanks(t, 1, func(t *testing.T, d *Device, rank int, ids []NCCLID) {
		c := newComm(t, d, ids[0], rank)
		sizes := []int{1<<17 + 3, 1, 4099}
		const msgs = 6
		ops := d.Ops()
		if rank == 0 {
			srcs := make([]kernels.Buffer, len(sizes))
			for i, n := range sizes {
				srcs[i] = ops.Alloc(n)
			}
			sent := make([]device.Event, len(sizes)) // each source's latest send
			for m := range msgs {
				k := m % len(sizes)
				if sent[k] != nil {
					d.Wait(sent[k]) // before the source is rewritten
				}
				staged := ops.Alloc(sizes[k])
				ops.Upload(staged, message(m, sizes[k]))
				ops.Copy(srcs[k], staged) // on the compute stream: the send must follow it
				var err error
				if sent[k], err = c.Send(srcs[k], 1); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Sync(); err != nil {
				t.Fatal(err)
			}
			return
		}
		outs := make([]kernels.Buffer, msgs)
		for m := range msgs {
			n := sizes[m%len(sizes)]
			dst := ops.Alloc(n)
			if err := c.Recv(dst, 0); err != nil {
				t.Fatal(err)
			}
			outs[m] = ops.Alloc(n)
			ops.Copy(outs[m], dst) // on the compute stream: it must see the message
		}
		d.Sync()
		for m, b := range outs {
			expectMessage(t, d, b, m, fmt.Sprintf("message %d", m))
		}
		if err := c.Check(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCUDANCCLMissingLibrary: where the library is missing, every NCCL call
// fails with an error naming it, BATON_NCCL, and the fix.
func TestCUDANCCLMissingLibrary(t *testing.T) {
	lib := filepath.Join(t.TempDir(), "no", "libnccl.so.2")
	t.Setenv("BATON_NCCL", lib)
	_, err := NCCLVersion()
	if err == nil {
		t.Fatal("NCCLVersion: no error with BATON_NCCL naming no file")
	}
	for _, want := range []string{lib + " (BATON_NCCL) not found", "dlopen: ", "install NCCL 2.x or set BATON_NCCL to its path"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("NCCLVersion: %q does not say %q", err, want)
		}
	}
	if !errors.Is(err, ErrNCCLMissing) {
		t.Errorf("NCCLVersion: %v is not ErrNCCLMissing", err)
	}
	if _, err := NewNCCLID(); !errors.Is(err, ErrNCCLMissing) {
		t.Errorf("NewNCCLID: %v, want ErrNCCLMissing", err)
	}
}
