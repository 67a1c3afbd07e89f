// A rank of baton launch watching its launcher: killed (SIGKILL, a crash) it passes no signal on, and the rank must not train on unattended.

package main

import (
	"os"
	"strconv"
	"time"
)

// launchPIDEnv names the variable in which baton launch gives its ranks its
// pid, so that each can tell when it is gone. Ranks that torchrun or Slurm
// start have none, and no watch: their launchers stop them.
const launchPIDEnv = "BATON_LAUNCH_PID"

// launcherBeat is how often a rank looks for its launcher: a rank outliving
// it by a second is nothing, and a look costs one system call.
const launcherBeat = time.Second

// watchLauncher stops this rank (stopForLauncher: as SIGTERM would, where
// it can send itself one), saying why, once the launcher named by
// BATON_LAUNCH_PID is no longer its parent: the kernel gave the orphan to
// another process, so the launcher died without passing a signal on. This
// rather than Linux's parent-death signal, which exists on Linux alone and
// comes when the thread that started the rank ends, not the launcher: Go
// ends a thread whose goroutine exits locked to it (golang/go#27505), and
// the launcher would have to hold its starting goroutine to one thread for
// its life.
func watchLauncher() {
	pid, err := strconv.Atoi(os.Getenv(launchPIDEnv))
	if err != nil || pid <= 0 {
		return
	}
	go func() {
		tick := time.NewTicker(launcherBeat)
		defer tick.Stop()
		// A launcher gone before the first look is gone all the same.
		for os.Getppid() == pid {
			<-tick.C
		}
		stopForLauncher(pid)
	}()
}
