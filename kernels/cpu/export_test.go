// Hooks for the external tests: the instruction sets this host runs, and a backend on each.

package cpu

import "runtime"

// ISAs names the instruction sets this host can run, generic first.
func ISAs() []string {
	var names []string
	for _, i := range hostISAs() {
		names = append(names, i.String())
	}
	return names
}

// NewISA is New on the named instruction set (one of ISAs).
func NewISA(name string) *Ops {
	for _, i := range hostISAs() {
		if i.String() == name {
			return newOps(runtime.GOMAXPROCS(0), i)
		}
	}
	panic("cpu: NewISA: " + name + " is not in ISAs()")
}
