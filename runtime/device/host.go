// The host the virtual CPU devices share: its CPU model and memory, as Linux's /proc tells them.

package device

import (
	"bufio"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
)

// HostCPU is the host CPU's model name (/proc/cpuinfo), or its
// architecture where that is not known.
func HostCPU() string {
	if v := procField("/proc/cpuinfo", "model name"); v != "" {
		return v
	}
	return goruntime.GOARCH
}

// HostMemory is the host's memory in bytes (/proc/meminfo's MemTotal); 0
// where it is not known.
func HostMemory() int64 { return ProcBytes("/proc/meminfo", "MemTotal") }

// ProcBytes is a "key: N kB" line of a /proc file (meminfo, self/status)
// in bytes; 0 where the file or the key is missing.
func ProcBytes(path, key string) int64 {
	kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(procField(path, key), "kB")), 10, 64)
	if err != nil {
		return 0
	}
	return kb << 10
}

// procField is the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
