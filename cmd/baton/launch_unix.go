//go:build unix

// A rank in a process group of its own, where Unix has them.

package main

import (
	"os/exec"
	"syscall"
)

// ownGroup puts a rank in a process group of its own, so that a terminal's
// Ctrl-C, sent to the whole foreground group, reaches launch alone, which
// passes it on once: twice would make a rank exit at once, unsaved.
func ownGroup(c *exec.Cmd) {
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
