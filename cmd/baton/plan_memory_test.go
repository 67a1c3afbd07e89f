// plan shows each device's memory per precision, whether it fits --device-memory, and the memory over 1..--devices-max devices.

package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"strings"
	"testing"
)

// TestPlanMemoryPerDevice: gpt2-1558m against 10 GiB devices does not fit
// one device in fp32 but fits eight in bf16; the JSON carries every
// precision's bytes per device and over 1–8 devices.
func TestPlanMemoryPerDevice(t *testing.T) {
	dir := t.TempDir()
	args := []string{"plan", "--model=gpt2-1558m", "--batch=8", "--microbatches=8", "--device-memory=10GiB", "--devices-max=8"}
	r := baton(t, dir, args...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// On CPU devices the host they share is weighed too, as train weighs it.
	for _, want := range []string{"fp32/tf32          bf16", "10.00 GiB (--device-memory)", "TOO BIG", "layers balanced over 1–8 devices",
		"this host, which train weighs the CPU devices against rather than --device-memory, for all their stages and the process: "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = baton(t, dir, append(args, "--json")...)
	var got struct {
		DeviceMemory []struct {
			Device    string          `json:"device"`
			Bytes     int64           `json:"mem_bytes"`
			BytesBF16 int64           `json:"mem_bytes_bf16"`
			Fits      map[string]bool `json:"fits"`
		} `json:"device_memory"`
		Scaling []struct {
			Devices  int              `json:"devices"`
			MaxBytes map[string]int64 `json:"max_mem_bytes"`
			Fits     map[string]bool  `json:"fits"`
		} `json:"devices_max"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
		t.Fatalf("exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if len(got.DeviceMemory) != 4 || got.DeviceMemory[0].Bytes == 0 || got.DeviceMemory[0].BytesBF16 == 0 || len(got.DeviceMemory[0].Fits) != 3 {
		t.Errorf("device_memory %+v, want 4 devices with bytes and fits per precision", got.DeviceMemory)
	}
	if len(got.Scaling) != 8 {
		t.Fatalf("devices_max has %d points, want 8", len(got.Scaling))
	}
	one, eight := got.Scaling[0], got.Scaling[7]
	if one.Fits["fp32"] || !eight.Fits["bf16"] || one.MaxBytes["tf32"] != one.MaxBytes["fp32"] || eight.MaxBytes["fp32"] >= one.MaxBytes["fp32"] {
		t.Errorf("1 device %+v, 8 devices %+v: want 1 too big in fp32, 8 fitting in bf16, less memory on 8", one, eight)
	}
}

// TestPlanCPUDevicesShareTheHost: CPU devices, which share the host, are
// planned against it as a whole, with the process's own memory, as train
// checks them: under an address-space limit the host line says so; and
// no row asks for --device-memory.
func TestPlanCPUDevicesShareTheHost(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to set the limit with")
	}
	cmd := exec.Command(bash, "-c", `ulimit -v 2500000 && exec "$0" "$@"`, batonBin, "plan", "--model=gpt2-124m", "--layers=2", "--context=64",
		"--devices=cpu:0,cpu:1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	host := regexp.MustCompile(`the host, which the CPU devices share, for all their stages and the process: [0-9.]+ GiB; [0-9.]+ [KMG]iB left under the address-space limit, RLIMIT_AS \(ulimit -v\), of 2\.38 GiB, of which the process holds [0-9.]+ GiB: TOO BIG`)
	if !host.Match(out) || strings.Contains(string(out), "give --device-memory") {
		t.Errorf("plan on CPU devices under ulimit -v 2500000:\n%s", out)
	}
}

// TestPlanDevicesMaxMarksUnschedulableRows: interleaving needs the
// micro-batches a multiple of the devices, so 4 of them cannot run on 3:
// that row says so, and the others are planned.
func TestPlanDevicesMaxMarksUnschedulableRows(t *testing.T) {
	args := []string{"plan", "--model=small", "--devices-max=4", "--schedule=interleaved", "--chunks=2", "--microbatches=4"}
	r := baton(t, t.TempDir(), args...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	rows := map[string]string{} // the table's rows by their device count
	for _, line := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(line, "  ") {
			rows[f[0]] = strings.Join(f[1:], " ")
		}
	}
	for n, want := range map[string]string{"2": "2,2,2,2 ", "3": "— — — schedule interleaved: 4 micro-batches over 3 devices", "4": "1,1,1,1,1,1,1,1 "} {
		if !strings.HasPrefix(rows[n], want) {
			t.Errorf("the row of %s devices is %q, want it to begin %q:\n%s", n, rows[n], want, r.stdout)
		}
	}
	r = baton(t, t.TempDir(), append(args, "--json")...)
	var got struct {
		Scaling []struct {
			Devices       int    `json:"devices"`
			Split         []int  `json:"split"`
			Unschedulable string `json:"unschedulable"`
		} `json:"devices_max"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
		t.Fatalf("exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if len(got.Scaling) != 4 || got.Scaling[2].Split != nil || !strings.Contains(got.Scaling[2].Unschedulable, "multiple of devices") || len(got.Scaling[3].Split) != 8 {
		t.Errorf("devices_max %+v, want 4 rows, the third unschedulable", got.Scaling)
	}
}

// TestPlanFitsTheDefaultDevices: plan, as train does, cuts the default four
// devices to the two that tiny's two layers fill, saying so; devices the
// user names are never cut, and too many of them stay an error.
func TestPlanFitsTheDefaultDevices(t *testing.T) {
	r := baton(t, t.TempDir(), "plan", "--model=tiny")
	if r.code != 0 || !strings.Contains(r.stdout, "2 layers on 2 devices") ||
		!strings.Contains(r.stderr, "model has 2 layers: planning on 2 of the default devices, cpu:0,cpu:1 (--devices chooses)") {
		t.Errorf("plan --model tiny: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := baton(t, t.TempDir(), "plan", "--model=tiny", "--devices=cpu:0..3"); r.code != 2 || !strings.Contains(r.stderr, "4 devices but only 2 layers") {
		t.Errorf("plan --model tiny --devices cpu:0..3: exit %d, want 2 and the layers named\n%s", r.code, r.stderr)
	}
}

// TestPlanJSONSaysWhetherTheHostFits: plan --json on CPU devices holds the
// host check the text prints: what the run needs, and whether it fits.
func TestPlanJSONSaysWhetherTheHostFits(t *testing.T) {
	r := baton(t, t.TempDir(), "plan", "--model", "tiny", "--devices", "cpu:0,cpu:1", "--json")
	var out struct {
		Host *struct {
			Need int64 `json:"need_bytes"`
			Fits *bool `json:"fits"`
		} `json:"host"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil || out.Host == nil || out.Host.Need <= 0 {
		t.Fatalf("plan --json: exit %d, host %+v\n%s\n%s", r.code, out.Host, r.stdout, r.stderr)
	}
	if goruntime.GOOS != "linux" {
		return // the limits are read from Linux's /proc and rlimits
	}
	if out.Host.Fits == nil || !*out.Host.Fits {
		t.Errorf("the tiny model on 2 CPU devices: host %+v; want it to fit (/proc/meminfo is read on Linux)", out.Host)
	}
}

// TestPlanCountsTheEagerOptimizersCopy: plan --optimizer-step eager
// counts, byte for byte, what train's plan counts for it (a copy of each
// stage's parameters and moments), and more than plan without it.
func TestPlanCountsTheEagerOptimizersCopy(t *testing.T) {
	dir := t.TempDir()
	shape := []string{"--model=small", "--devices=cpu:0,cpu:1", "--batch=8", "--microbatches=4"}
	type stages struct {
		Stages []struct {
			MemBytes int64 `json:"mem_bytes"`
		} `json:"stages"`
	}
	plans := map[string]*stages{}
	for _, step := range []string{"default", "eager"} {
		r := baton(t, dir, append([]string{"plan", "--json", "--optimizer-step=" + step}, shape...)...)
		plans[step] = &stages{}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), plans[step]) != nil {
			t.Fatalf("plan --optimizer-step %s: exit %d\n%s", step, r.code, r.stderr)
		}
	}
	mustRun(t, dir, append([]string{"train", "--optimizer-step=eager", "--data", corpus, "--steps=1", "--out=run", "--quiet"}, shape...)...)
	var rec struct{ Plan stages }
	readJSON(t, filepath.Join(dir, "run", "run.json"), &rec)
	for s, st := range plans["eager"].Stages {
		if trained := rec.Plan.Stages[s].MemBytes; st.MemBytes != trained || st.MemBytes <= plans["default"].Stages[s].MemBytes {
			t.Errorf("stage %d: plan --optimizer-step eager counts %d bytes, train's plan %d, plan without it %d; want train's, and more",
				s, st.MemBytes, trained, plans["default"].Stages[s].MemBytes)
		}
	}
}
