//go:build unix

package cpu

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time used by this process so far (user + system). The
// benchmarks divide work by it as well as by wall time: on a shared machine
// other processes steal wall time, but not CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
