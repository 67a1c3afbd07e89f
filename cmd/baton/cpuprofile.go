// --cpuprofile: a CPU profile of the run, one per rank, written whole or not at all.

package main

import (
	"baton/internal/fsutil"
	"baton/runtime/dist"
	"fmt"
	"io"
	"path/filepath"
	"runtime/pprof"
	"strings"
)

// rankPath is path for rank env.Rank of a run of several processes, which
// would all write one path otherwise: prof.out becomes prof.rank1.out.
func rankPath(path string, env dist.Env) string {
	if env.WorldSize <= 1 {
		return path
	}
	ext := filepath.Ext(path)
	return fmt.Sprintf("%s.rank%d%s", strings.TrimSuffix(path, ext), env.Rank, ext)
}

// startProfile starts a CPU profile of the run for --cpuprofile. It goes to
// a temporary file beside path that stop renames into place, as
// fsutil.WriteAtomic writes any file (here over the run's life, in a
// goroutine of its own): a profile at path stays as it was until the new one
// is whole, and one that cannot be written is not left empty or cut short.
// stop ends the profile and returns an error of any of its writes, its close
// or its rename, naming --cpuprofile.
func startProfile(path string) (stop func() error, err error) {
	started, end, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- fsutil.WriteAtomic(path, func(w io.Writer) error {
			// pprof drops the errors of its writes: ew keeps the first.
			ew := &errWriter{w: w}
			if err := pprof.StartCPUProfile(ew); err != nil {
				return err
			}
			close(started)
			<-end
			pprof.StopCPUProfile() // returns once the profile is written
			return ew.Err()
		})
	}()
	select {
	case <-started:
	case err := <-done: // no temporary file, or a profile already running
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() error {
		close(end)
		if err := <-done; err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		return nil
	}, nil
}
