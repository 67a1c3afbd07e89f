// The deadlock report of Simulate: which device waits at which receive for which send.

package schedule

import (
	"fmt"
	"strings"
)

// deadlockError describes a replay stuck with every device at next[d]: each
// unfinished device is at a receive whose send has not run, either because
// the sender is itself stuck before it or because no device has it.
func deadlockError(s *Schedule, next []int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "simulate %s: deadlock, no device can progress:", s.Name)
	for d, list := range s.Lists {
		i := next[d]
		if i == len(list) {
			fmt.Fprintf(&b, "\n  device %d finished its %d actions", d, len(list))
			continue
		}
		a := list[i]
		q := partner(a) // every stuck action is a receive
		fmt.Fprintf(&b, "\n  device %d waits at action %d (%s) for %s", d, i, a, q)
		e, k := findAction(s, q)
		if k < 0 {
			b.WriteString(", which no device has (run Validate)")
			continue
		}
		// The send has not run, so its device is stuck before it.
		fmt.Fprintf(&b, ", action %d of device %d, which is stuck at its action %d (%s)", k, e, next[e], s.Lists[e][next[e]])
	}
	return fmt.Errorf("%s", b.String())
}

// findAction is the device and index of a's first occurrence, or (-1, -1).
func findAction(s *Schedule, a Action) (dev, idx int) {
	for d, list := range s.Lists {
		for i, x := range list {
			if x == a {
				return d, i
			}
		}
	}
	return -1, -1
}
