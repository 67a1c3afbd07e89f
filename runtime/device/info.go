// What a run can use and what it moved: the devices List reports, and the copy statistics of devices that time their transfers.

package device

import (
	"fmt"
	goruntime "runtime"
	"strings"

	"baton/internal/words"
	"baton/kernels/cpu"
)

// Info describes one device a run can use: a GPU (Kind "cuda") or the
// host's virtual CPU devices (Kind "cpu", one entry for all of them).
type Info struct {
	Kind    Kind   `json:"kind"`    // "cuda" or "cpu"
	Name    string `json:"name"`    // "cuda:0", or "cpu:N" for the virtual devices
	Index   int    `json:"index"`   // GPU ordinal (0 for cpu)
	Model   string `json:"model"`   // "NVIDIA H100 80GB HBM3", or the host's CPU
	Compute string `json:"compute"` // compute capability, "9.0" (empty for cpu)
	SMs     int    `json:"sms"`     // streaming multiprocessors (for cpu: the CPUs this process may run on)
	Memory  int64  `json:"memory"`  // bytes of device memory (for cpu: the host's, which the devices share)
	// UUID names the GPU as nvidia-smi does ("GPU-" and its UUID; empty for
	// cpu): the same GPU in every process that sees it, whatever its ordinal.
	UUID string `json:"uuid,omitempty"`
	// Peer[j] says whether this GPU can read and write GPU j's memory
	// directly (cuDeviceCanAccessPeer); Peer[Index] is true.
	Peer []bool `json:"peer,omitempty"`
	// MaxPartitions is the largest K of cuda:N/K: SMs over the smallest
	// group of SMs a green context may hold; 0 where green contexts are
	// unavailable (cuda:N/K then falls back to streams of one context).
	MaxPartitions int    `json:"max_partitions"`
	Note          string `json:"note,omitempty"` // why green contexts are unavailable, and the like
	// Kernels is the CPU kernels' instruction set: generic, avx2 or avx512 (cpu only).
	Kernels string `json:"kernels,omitempty"`
}

// List returns every GPU (none in a build without CUDA) and one entry for
// the virtual CPU devices, with the CUDA driver's version ("" when there
// is none). An error means the CUDA driver could not be asked; the CPU
// entry is returned all the same.
func List() (devs []Info, driver string, err error) {
	if d, ok := drivers[KindCUDA]; ok {
		devs, driver, err = d.List()
	}
	devs = append(devs, Info{
		Kind: KindCPU, Name: "cpu:N", Model: HostCPU(), SMs: goruntime.NumCPU(), Memory: HostMemory(),
		Kernels: CPUKernels(),
		Note: fmt.Sprintf("virtual devices cpu:0..N (up to %d), sharing the host's CPUs; kernels %s (BATON_CPU may name %s) on %s (GOMAXPROCS)",
			maxCPUDevices, CPUKernels(), strings.Join(cpu.InstructionSets(), ", "), words.Count(goruntime.GOMAXPROCS(0), "thread")),
	})
	return devs, driver, err
}

// TransferStat sums the copies one device made into one peer: which path
// they took and how fast they went, as timed by the device's own events.
type TransferStat struct {
	From    string  `json:"from"`
	To      string  `json:"to"`
	Path    string  `json:"path"` // e.g. "DtoD (one context)", "peer (P2P)", "staged through pinned host memory"
	Copies  int     `json:"copies"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"` // copy time on the device's timeline, summed
}

// GBps is the mean bandwidth of the copies in GB/s (0 before any was timed).
func (t TransferStat) GBps() float64 {
	if t.Seconds <= 0 {
		return 0
	}
	return float64(t.Bytes) / t.Seconds / 1e9
}

func (t TransferStat) String() string {
	rate := fmt.Sprintf("%.1f GB/s", t.GBps())
	if t.GBps() < 1 { // small sends, or through the host: MB/s says more than 0.0 GB/s
		rate = fmt.Sprintf("%.1f MB/s", t.GBps()*1e3)
	}
	return fmt.Sprintf("%s → %s: %s, %d copies, %.1f MB, %s", t.From, t.To, t.Path, t.Copies, float64(t.Bytes)/1e6, rate)
}

// TransferReporter is a device that times its copies (CUDA devices).
type TransferReporter interface {
	Transfers() []TransferStat
}

// Transfers returns the copy statistics of every device that keeps them,
// one entry per (device, peer), as of the devices' last Sync. Virtual CPU
// devices keep none.
func Transfers(devs []Device) []TransferStat {
	var out []TransferStat
	for _, d := range devs {
		if r, ok := d.(TransferReporter); ok {
			out = append(out, r.Transfers()...)
		}
	}
	return out
}

// EventReleaser is a device that pools its events and takes back, at once,
// those nobody will use again.
type EventReleaser interface{ Release(e Event) }
