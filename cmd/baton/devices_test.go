// baton devices in the build without CUDA: no GPUs, the virtual CPU devices, and JSON for scripts.

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"
	"testing"

	"baton/internal/words"
)

func TestDevicesCommand(t *testing.T) {
	r := baton(t, t.TempDir(), "devices")
	if r.code != 0 || !strings.Contains(r.stdout, "built without CUDA support") || !strings.Contains(r.stdout, "cpu:N") {
		t.Fatalf("baton devices: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = baton(t, t.TempDir(), "devices", "--json")
	var v struct {
		CUDABuild bool `json:"cuda_build"`
		Devices   []struct {
			Kind string `json:"kind"`
			SMs  int    `json:"sms"`
		} `json:"devices"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != 0 {
		t.Fatalf("baton devices --json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	if v.CUDABuild || len(v.Devices) != 1 || v.Devices[0].Kind != "cpu" || v.Devices[0].SMs < 1 {
		t.Fatalf("baton devices --json: %+v", v)
	}
}

// TestDevicesCountsCPUsNotThreads: the CPU line gives the CPUs the process
// may run on and, apart, the threads the kernels use (GOMAXPROCS): it gave
// GOMAXPROCS as the host's cores ("7 cores" on a machine of 2).
func TestDevicesCountsCPUsNotThreads(t *testing.T) {
	cmd := exec.Command(batonBin, "devices")
	cmd.Env = append(os.Environ(), "GOMAXPROCS=7")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(", %s, ", words.Count(goruntime.NumCPU(), "CPU"))
	if line := string(out); !strings.Contains(line, want) || !strings.Contains(line, "on 7 threads (GOMAXPROCS)") {
		t.Errorf("GOMAXPROCS=7 baton devices:\n%s\nwant %q (this test's CPUs) and the kernels on 7 threads", line, want)
	}
}

func TestPrecisionFlag(t *testing.T) {
	r := baton(t, t.TempDir(), "train", "--precision", "fp16")
	if r.code != 2 || !strings.Contains(r.stderr, `--precision "fp16"`) {
		t.Fatalf("baton train --precision fp16: exit %d, stderr %q", r.code, r.stderr)
	}
	r = baton(t, t.TempDir(), "train", "--precision", "bf16", "--devices", "cpu:0")
	if r.code != 2 || !strings.Contains(r.stderr, "bf16 needs CUDA devices") {
		t.Fatalf("baton train --precision bf16 on cpu:0: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestBadCPUEnv: a BATON_CPU this machine cannot honour stops every
// command with one line naming it and exit status 2, not a panic.
func TestBadCPUEnv(t *testing.T) {
	for _, v := range []string{"bogus", "AVX2"} {
		cmd := exec.Command(batonBin, "devices")
		cmd.Env = append(os.Environ(), "BATON_CPU="+v)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code != 2 || stderr.String() != fmt.Sprintf("baton: BATON_CPU=%q: want generic, avx2, avx512, or unset for the best this CPU has\n", v) {
			t.Errorf("BATON_CPU=%s baton devices: exit %d, stderr %q", v, code, stderr.String())
		}
	}
}
