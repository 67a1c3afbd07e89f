//go:build cuda

// Listing the GPUs without opening a context on any: model, SMs, memory, the partitions green contexts allow, peer access.

package cuda

import (
	"fmt"
	"os"

	"gorgonia.org/cu"

	"baton/runtime/device"
)

// listGPUs describes every GPU, with the driver's version and NCCL's
// (what a run of several processes on GPUs will need).
func listGPUs() ([]device.Info, string, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return nil, "", check("cuDeviceGetCount", err)
	}
	driver := driverVersion()
	if os.Getenv("BATON_NCCL") == "off" { // not loaded at all
		driver += ", NCCL off (BATON_NCCL=off: GPU ranks send through the host)"
	} else if v, err := NCCLVersion(); err == nil {
		driver += ", NCCL " + v
	} else {
		driver += ", no NCCL (" + err.Error() + ")" // which library was not found, and why
	}
	devs := make([]cu.Device, n)
	out := make([]device.Info, n)
	for i := range n {
		if devs[i], err = cu.GetDevice(i); err != nil {
			return nil, driver, check(fmt.Sprintf("cuDeviceGet(%d)", i), err)
		}
		f, err := deviceFacts(devs[i])
		if err != nil {
			return nil, driver, fmt.Errorf("GPU %d: %w", i, err)
		}
		out[i] = device.Info{Kind: device.KindCUDA, Name: fmt.Sprintf("cuda:%d", i), Index: i, Model: f.name,
			Compute: fmt.Sprintf("%d.%d", f.major, f.minor), SMs: f.sms, Memory: f.memory, UUID: f.uuid}
		if most, err := maxGreenPartitions(devs[i]); err != nil {
			out[i].Note = "cuda:N/K uses streams of one context: " + err.Error()
		} else {
			out[i].MaxPartitions = most
		}
	}
	for i := range n {
		out[i].Peer = make([]bool, n)
		for j := range n {
			if i == j {
				out[i].Peer[j] = true
				continue
			}
			if out[i].Peer[j], err = canAccessPeer(devs[i], devs[j]); err != nil {
				return nil, driver, fmt.Errorf("GPU %d → GPU %d: %w", i, j, err)
			}
		}
	}
	return out, driver, nil
}
