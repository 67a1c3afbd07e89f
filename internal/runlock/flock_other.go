//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

// Systems without flock: the lock file is written but locks nothing, so two runs in one directory are not kept apart there.

package runlock

import "os"

func tryLock(*os.File) (bool, error) { return true, nil }
