// plan shows each device's memory per precision, whether it fits --device-memory, and the memory over 1..--devices-max devices.

package main

import (
	"encoding/json"
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
	for _, want := range []string{"fp32/tf32          bf16", "10.00 GiB (--device-memory)", "TOO BIG", "layers balanced over 1–8 devices"} {
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
