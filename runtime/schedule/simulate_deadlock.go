// The deadlock report of Simulate: which device waits at which receive for which send.

package schedule

import (
	"fmt"
	"strings"
)

// Deadlock is Simulate's error when no device can progress: where each
// device stands, so that a caller can point at the places in its own terms
// (ReadCSV names rows and columns of a file).
type Deadlock struct {
	Schedule string
	Devices  []Stuck // per device
}

// Stuck is where one device stands in a deadlock: finished, or at a receive
// whose send has not run, either because the sender is itself stuck before
// it or because no device has it.
type Stuck struct {
	Finished bool
	Index    int    // the receive's index in the device's list; with Finished, the list's length
	Action   Action // the receive
	For      Action // the send it waits for
	Sender   int    // the device that has For, or -1 when none has
	SendAt   int    // For's index in the sender's list
}

// deadlockError describes a replay stuck with every device at next[d]:
// each unfinished device is at a receive (the only action that waits).
func deadlockError(s *Schedule, next []int) *Deadlock {
	dl := &Deadlock{Schedule: s.Name, Devices: make([]Stuck, len(s.Lists))}
	for d, list := range s.Lists {
		i := next[d]
		if i == len(list) {
			dl.Devices[d] = Stuck{Finished: true, Index: i}
			continue
		}
		a := list[i]
		q := partner(a)
		e, k := findAction(s, q)
		dl.Devices[d] = Stuck{Index: i, Action: a, For: q, Sender: e, SendAt: k}
	}
	return dl
}

func (dl *Deadlock) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "simulate %s: deadlock, no device can progress:", dl.Schedule)
	for d, st := range dl.Devices {
		if st.Finished {
			fmt.Fprintf(&b, "\n  device %d finished its %d actions", d, st.Index)
			continue
		}
		fmt.Fprintf(&b, "\n  device %d waits at action %d (%s) for %s", d, st.Index, st.Action, st.For)
		if st.Sender < 0 {
			b.WriteString(", which no device has (run Validate)")
			continue
		}
		// The send has not run, so its device is stuck before it.
		at := dl.Devices[st.Sender]
		fmt.Fprintf(&b, ", action %d of device %d, which is stuck at its action %d (%s)", st.SendAt, st.Sender, at.Index, at.Action)
	}
	return b.String()
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
