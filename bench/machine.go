// Machine: what a report's figures were measured on (CPU model and cores, memory, Go, OS, GPUs).

package bench

import (
	"bufio"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"

	"baton/internal/words"
	"baton/runtime/device"
)

// Machine describes the host and, when CUDA devices ran, the GPUs.
type Machine struct {
	CPU      string   // model name from /proc/cpuinfo
	Cores    int      // logical CPUs the Go runtime may use
	MemBytes int64    // from /proc/meminfo; 0 when unknown
	Go       string   // runtime.Version()
	OS       string   // PRETTY_NAME of /etc/os-release, GOOS/GOARCH
	GPUs     []string // models of the GPUs that ran, empty for CPU devices
	Driver   string   // with GPUs: the NVIDIA driver's version and its CUDA version
}

// Describe reads the host. gpus lists the GPU models behind the devices
// that ran; pass nil for a CPU sweep (see GPUsOf).
func Describe(gpus []string) Machine {
	m := Machine{CPU: device.HostCPU(), Cores: goruntime.GOMAXPROCS(0), MemBytes: device.HostMemory(), Go: goruntime.Version(), GPUs: gpus}
	if len(gpus) > 0 {
		m.Driver = gpuDriver()
	}
	m.OS = goruntime.GOOS + "/" + goruntime.GOARCH
	if pretty := osRelease(); pretty != "" {
		m.OS = pretty + ", " + m.OS
	}
	return m
}

// GPUsOf returns the models of the GPUs behind cuda: device names, asking
// the CUDA driver (the cuda build); nil when no name is a GPU.
func GPUsOf(devices []device.Name) []string {
	seen := map[int]bool{}
	for _, d := range devices {
		if d.Kind == device.KindCUDA {
			seen[d.Index] = true
		}
	}
	if len(seen) == 0 {
		return nil
	}
	infos, _, _ := device.List()
	var out []string
	for _, in := range infos {
		if in.Kind == device.KindCUDA && seen[in.Index] {
			out = append(out, fmt.Sprintf("%s (%s, %d SMs, %.0f GiB)", in.Model, in.Name, in.SMs, float64(in.Memory)/(1<<30)))
		}
	}
	return out
}

// String is one line for the report.
func (m Machine) String() string {
	s := m.CPU + ", " + words.Count(m.Cores, "core")
	if m.MemBytes > 0 {
		s += fmt.Sprintf(", %.0f GiB", float64(m.MemBytes)/(1<<30))
	}
	s += ", " + m.OS + ", " + m.Go
	if len(m.GPUs) > 0 {
		gpus := strings.Join(m.GPUs, "; ")
		if m.Driver != "" {
			gpus += ", " + m.Driver
		}
		s = gpus + "; host " + s
	}
	return s
}

// gpuDriver is the NVIDIA kernel module's version (from
// /proc/driver/nvidia/version, where the host has it) and the CUDA version
// of the driver API, e.g. "NVIDIA driver 580.65.06, CUDA 13.0".
func gpuDriver() string {
	var parts []string
	if b, err := os.ReadFile("/proc/driver/nvidia/version"); err == nil {
		if v := moduleVersion(string(b)); v != "" {
			parts = append(parts, "NVIDIA driver "+v)
		}
	}
	if _, cuda, _ := device.List(); cuda != "" {
		parts = append(parts, cuda)
	}
	return strings.Join(parts, ", ")
}

// moduleVersion finds the version in /proc/driver/nvidia/version's first
// line, the first dotted number after "Kernel Module": the proprietary
// module writes "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul ...",
// the open one "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build ...".
func moduleVersion(text string) string {
	line, _, _ := strings.Cut(text, "\n")
	_, rest, ok := strings.Cut(line, "Kernel Module")
	if !ok {
		return ""
	}
	for _, f := range strings.Fields(rest) {
		if f[0] >= '0' && f[0] <= '9' && strings.Contains(f, ".") {
			return f
		}
	}
	return ""
}

// Slug names the machine in file names: the GPU model when GPUs ran,
// else the CPU model and core count, lower case with dashes.
func (m Machine) Slug() string {
	name := fmt.Sprintf("%s-%dc", m.CPU, m.Cores)
	if len(m.GPUs) > 0 {
		name = m.GPUs[0]
		if i := strings.Index(name, " ("); i >= 0 {
			name = name[:i]
		}
	}
	return slug(name)
}

func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.TrimRight(b.String(), "-")
	for _, noise := range []string{"-r-", "-tm-", "-cpu-"} { // (R), (TM), "CPU" say nothing in a file name
		out = strings.ReplaceAll(out, noise, "-")
	}
	if out == "" {
		return "unknown"
	}
	return out
}

func osRelease() string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
