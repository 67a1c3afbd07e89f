// Writability checked up front: a run learns that it cannot save before it trains, not after.

package fsutil

import (
	"fmt"
	"os"
)

// ProbeDir makes dir (and its parents) if it is missing, and writes and
// removes a small file in it: what a run will do there later, done before
// its work starts. A path that names a file, a device, a read-only place
// or an over-long name fails here.
func ProbeDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot make the directory: %w", err)
	}
	return ProbeWrite(dir)
}

// ProbeWrite writes and removes a small file in dir, which must exist:
// where a file will be written there later, done before the work starts.
func ProbeWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("cannot write in it: %w", err)
	}
	name := f.Name()
	_, werr := f.Write([]byte{0})
	cerr := f.Close()
	rerr := os.Remove(name)
	for _, err := range []error{werr, cerr, rerr} {
		if err != nil {
			return fmt.Errorf("cannot write in it: %w", err)
		}
	}
	return nil
}
