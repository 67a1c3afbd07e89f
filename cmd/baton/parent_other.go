//go:build !unix

// Where a process cannot send itself SIGTERM, a rank whose launcher is gone exits.

package main

import (
	"fmt"
	"os"
)

// stopForLauncher says that launcher pid is gone and exits: without SIGTERM
// to send itself, the rank cannot stop as on one, and its last complete
// checkpoint is intact.
func stopForLauncher(pid int) {
	fmt.Fprintf(os.Stderr, "baton: launcher (pid %d) is gone: exiting; the last complete checkpoint is intact\n", pid)
	os.Exit(1)
}
