// The memory this process can have on Linux: its address-space limit, its cgroup's limit, and what the kernel says is available.

package runtime

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// hostMemory is the least of the process's address-space limit
// (RLIMIT_AS, as ulimit -v and prlimit set it), its cgroup's memory limit (v2
// memory.max, else v1 memory.limit_in_bytes) and MemAvailable in
// /proc/meminfo, in bytes, with where it comes from; 0 when none is known.
func hostMemory() (bytes int64, from string) {
	consider := func(b int64, src string) {
		if b > 0 && (bytes == 0 || b < bytes) {
			bytes, from = b, src
		}
	}
	var rl syscall.Rlimit
	// RLIM_INFINITY is all ones: past 1<<62, as are cgroup v1's "no limit" values.
	if syscall.Getrlimit(syscall.RLIMIT_AS, &rl) == nil && rl.Cur < 1<<62 {
		consider(int64(rl.Cur), "the address-space limit, RLIMIT_AS (ulimit -v)")
	}
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if raw, err := os.ReadFile(p); err == nil {
			if b, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64); err == nil && b < 1<<62 {
				consider(b, "the cgroup's limit ("+p+")")
			}
		}
	}
	consider(memAvailable(), "MemAvailable in /proc/meminfo")
	return bytes, from
}

// memAvailable is MemAvailable from /proc/meminfo in bytes, or 0.
func memAvailable() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
