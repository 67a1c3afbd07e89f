//go:build race

// Whether the race detector is on: its instrumentation allocates where the plain build does not.

package runtime

const raceEnabled = true
