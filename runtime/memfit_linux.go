// The memory this process can still have on Linux: under its address-space limit, its cgroup's limit, and what the kernel says is available.

package runtime

import (
	"os"
	"strconv"
	"strings"
	"syscall"

	"baton/model"
	"baton/runtime/device"
)

// hostRooms is what this process may still allocate under each limit it
// has: its address-space limit (RLIMIT_AS, as ulimit -v and prlimit set
// it) less the address space it holds, its cgroup's memory limit (v2
// memory.max, else v1 memory.limit_in_bytes) less the memory it holds, and
// MemAvailable in /proc/meminfo. What the process holds already (a
// checkpoint loaded to resume from) is so counted.
func hostRooms() []room {
	var rooms []room
	var rl syscall.Rlimit
	// RLIM_INFINITY is all ones: past 1<<62, as are cgroup v1's "no limit" values.
	if syscall.Getrlimit(syscall.RLIMIT_AS, &rl) == nil && rl.Cur < 1<<62 {
		held := device.ProcBytes("/proc/self/status", "VmSize")
		rooms = append(rooms, room{bytes: int64(rl.Cur) - held, addressSpace: true,
			from: "under the address-space limit, RLIMIT_AS (ulimit -v), of " + model.HumanBytes(int64(rl.Cur)) + ", of which the process holds " + model.HumanBytes(held)})
	}
	// The cgroup's own usage counts page cache the kernel would reclaim:
	// what this process holds is what the run cannot give back.
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if limit := readInt(p); limit > 0 && limit < 1<<62 {
			held := device.ProcBytes("/proc/self/status", "VmRSS")
			rooms = append(rooms, room{bytes: limit - held,
				from: "under the cgroup's limit (" + p + ") of " + model.HumanBytes(limit) + ", of which the process holds " + model.HumanBytes(held)})
			break
		}
	}
	if avail := device.ProcBytes("/proc/meminfo", "MemAvailable"); avail > 0 {
		rooms = append(rooms, room{bytes: avail, from: "(MemAvailable in /proc/meminfo)"})
	}
	return rooms
}

// readInt is the integer a /sys file holds, or -1.
func readInt(path string) int64 {
	raw, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil {
		return -1
	}
	return n
}
