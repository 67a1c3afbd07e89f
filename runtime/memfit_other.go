//go:build !linux

// The memory this process can have, where baton knows no way to ask: unknown.

package runtime

// hostMemory is 0 (unknown) outside Linux: no run is refused for memory.
func hostMemory() (bytes int64, from string) { return 0, "" }
