// The ranks' transfers through the mesh (devices without links: virtual CPU devices of several processes): each send's count, bytes and host time, per pair of devices, for the report as NCCL's are.

package runtime

import (
	"sync"
	"time"

	"baton/runtime/device"
)

// hostSends sums this rank's sends of activations and gradients through
// the mesh per pair of the schedule's devices: the time from the download
// of the buffer to the last byte written to the connection, which is what
// the sending device spends on it (the receiver's wait is its own).
type hostSends struct {
	mu  sync.Mutex
	sum map[[2]int]*device.TransferStat // by (from, to) device of the schedule
}

// add counts one send of n bytes from device from to device to, taking d.
func (h *hostSends) add(from, to, n int, d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sum == nil {
		h.sum = map[[2]int]*device.TransferStat{}
	}
	s := h.sum[[2]int{from, to}]
	if s == nil {
		s = &device.TransferStat{Path: "host (TCP through the mesh)"}
		h.sum[[2]int{from, to}] = s
	}
	s.Copies, s.Bytes, s.Seconds = s.Copies+1, s.Bytes+int64(n), s.Seconds+d.Seconds()
}

// stats are the sums with their devices named by names, in no order.
func (h *hostSends) stats(names []string) []device.TransferStat {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]device.TransferStat, 0, len(h.sum))
	for pair, s := range h.sum {
		st := *s
		st.From, st.To = names[pair[0]], names[pair[1]]
		out = append(out, st)
	}
	return out
}
