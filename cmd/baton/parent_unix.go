//go:build unix

// A rank whose launcher is gone stops as on SIGTERM, where a process can signal itself.

package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// stopForLauncher says that launcher pid is gone and sends this process
// SIGTERM, once: train's handler then finishes the step, saves and exits
// 143, as for a launcher's SIGTERM. Where a signal is stopping the run
// already (the launcher passed one on, then died), it sends none: a
// second would exit at once, unsaved.
func stopForLauncher(pid int) {
	// The launcher read this rank's output through pipes: a line written
	// there now must fail with EPIPE, not kill the rank before it saves.
	signal.Ignore(syscall.SIGPIPE)
	if stopping.Load() {
		fmt.Fprintf(os.Stderr, "baton: launcher (pid %d) is gone; the stop under way goes on, after this step's checkpoint\n", pid)
		return
	}
	fmt.Fprintf(os.Stderr, "baton: launcher (pid %d) is gone: stopping as on SIGTERM, after this step's checkpoint\n", pid)
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
}
