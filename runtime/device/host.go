// The host the virtual CPU devices share: its CPU model and memory, as Linux's /proc tells them.

package device

import (
	"bufio"
	"fmt"
	"os"
	goruntime "runtime"
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
func HostMemory() int64 {
	var kb int64
	if v := procField("/proc/meminfo", "MemTotal"); v != "" {
		fmt.Sscanf(v, "%d", &kb)
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
