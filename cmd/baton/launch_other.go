//go:build !unix

// Where there are no process groups to leave, a rank stays in launch's.

package main

import "os/exec"

// ownGroup does nothing: without Unix process groups, launch and its ranks
// get a console's interrupt alike.
func ownGroup(*exec.Cmd) {}
